/**
 * What the read models must hold, folded from the event store alone. Written apart from the
 * projections on purpose (it shares no code with them): it checks the whole pipeline, not the
 * projections against themselves. Pure; one order at a time, so the caller can stream the store.
 */

import { EventContractViolation, ORDER_EVENTS } from '@app/messaging';
import type { OrderEventType } from '@app/orders-domain';

import type { OrderViewRecord } from '../order-view.projection.js';

/** A line as the contract has it. Amounts are decimal text: a price reaches 10^18, past a number's 2^53. */
export interface ExactLine {
  readonly sku: string;
  readonly quantity: string;
  readonly unitPriceMinor: string;
}

/** An event as read from the store, its lines already exact (see exactLinesSql). */
export interface StoredEvent {
  readonly eventId: string;
  readonly orderId: string;
  readonly version: number;
  readonly type: string;
  /** The version its data was recorded with; the fold reads it upcast to the current one. */
  readonly schemaVersion: number;
  readonly data: Readonly<Record<string, unknown>>;
  /** The lines the event carries (OrderPlaced, OrderLineAdded), amounts as text. */
  readonly lines: readonly ExactLine[] | null;
  /** occurred_at in UTC with microseconds, as timestampText formats it. */
  readonly at: string;
}

/** Every column of order_view, as text where the column is a time or an amount. */
export interface ExpectedOrderView {
  order_id: string;
  customer_id: string;
  status: string;
  currency: string;
  lines: ExactLine[];
  total_minor: string;
  version: number;
  placed_at: string;
  confirmed_at: string | null;
  shipped_at: string | null;
  delivered_at: string | null;
  cancelled_at: string | null;
  updated_at: string;
  payment_reference: string | null;
  carrier: string | null;
  tracking_number: string | null;
  cancel_reason: string | null;
  returned_at: string | null;
  return_reason: string | null;
  channel: string;
  applied_events: number;
}

/** A new column of the order view fails typecheck here until the fold says what it must hold (its type only is shared). */
type Unfolded = Exclude<keyof OrderViewRecord, keyof ExpectedOrderView>;
export const everyColumnIsFolded: [Unfolded] extends [never] ? true : `the fold does not expect ${Unfolded}` = true;

/** What one order adds to a sales bucket. */
export interface BucketContribution {
  readonly key: string;
  readonly orders: number;
  readonly revenue: bigint;
  readonly cancellations: number;
}

export interface FoldedOrder {
  readonly view: ExpectedOrderView;
  /** customer_summary_orders: the order's contribution to its customer's totals. */
  readonly customerOrder: { lines: ExactLine[]; cancelled: boolean };
  /** sales_orders: the order's current lines. */
  readonly salesLines: ExactLine[];
  /** What it adds to its customer's total: nothing once cancelled. */
  readonly customerTotal: bigint;
  readonly buckets: readonly BucketContribution[];
  /** Each event's effect on the order's total (order view), and on its customer's total: to recognise one applied twice or lost. */
  readonly totalEffects: readonly bigint[];
  readonly customerEffects: readonly bigint[];
  /** The order's confirmed revenue, if it was confirmed. */
  readonly revenue: bigint | null;
  /** The store itself is inconsistent: an event before OrderPlaced, a gap in versions. */
  readonly problems: readonly string[];
}

export const SALES_BUCKETS = [
  { granularity: '5m', ms: 300_000 },
  { granularity: '1h', ms: 3_600_000 },
] as const;

export function amountOf(line: ExactLine): bigint {
  try {
    return BigInt(line.quantity) * BigInt(line.unitPriceMinor);
  } catch {
    return 0n;
  }
}

export const totalOfLines = (lines: readonly ExactLine[]): bigint =>
  lines.reduce((sum, line) => sum + amountOf(line), 0n);

/** The key of a sales bucket row: granularity, start (UTC, microseconds) and currency. */
export function bucketKey(granularity: string, start: string, currency: string): string {
  return `${granularity}|${start}|${currency}`;
}

/** The bucket starts an instant falls in, in the microsecond format of timestampText. */
export function bucketStarts(at: string): { granularity: string; start: string }[] {
  const ms = Date.parse(at);
  return SALES_BUCKETS.map(({ granularity, ms: size }) => ({
    granularity,
    start: microsText(Math.floor(ms / size) * size),
  }));
}

export function microsText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}

const text = (value: unknown): string | null =>
  typeof value === 'string' ? value : value === undefined || value === null ? null : JSON.stringify(value);
const normalised = (lines: readonly ExactLine[]): ExactLine[] =>
  lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor }));

/** Folds one order's events, in version order. Returns undefined for an order with no OrderPlaced first. */
export function foldOrder(stored: readonly StoredEvent[]): FoldedOrder | { problems: string[]; view?: undefined } {
  const { events, unreadable } = upcast(stored);
  const [first, ...rest] = events;
  if (!first || first.type !== 'OrderPlaced' || first.version !== 1) {
    return {
      problems: [
        `the first event is ${first ? `${first.type} at version ${String(first.version)}` : 'missing'}, not OrderPlaced at version 1`,
      ],
    };
  }
  const problems: string[] = [...unreadable];
  const currency = String(first.data.currency);
  const placedLines = normalised(first.lines ?? []);
  const view: ExpectedOrderView = {
    order_id: first.orderId,
    customer_id: String(first.data.customerId),
    status: 'PLACED',
    currency,
    lines: placedLines,
    total_minor: '0',
    version: 1,
    placed_at: first.at,
    confirmed_at: null,
    shipped_at: null,
    delivered_at: null,
    cancelled_at: null,
    updated_at: first.at,
    payment_reference: null,
    carrier: null,
    tracking_number: null,
    cancel_reason: null,
    returned_at: null,
    return_reason: null,
    channel: String(first.data.channel),
    applied_events: 1,
  };
  const customerOrder = { lines: placedLines, cancelled: false };
  let salesLines = placedLines;
  const buckets: BucketContribution[] = [];
  const book = (at: string, amounts: { orders?: number; revenue?: bigint; cancellations?: number }): void => {
    for (const { granularity, start } of bucketStarts(at)) {
      buckets.push({
        key: bucketKey(granularity, start, currency),
        orders: amounts.orders ?? 0,
        revenue: amounts.revenue ?? 0n,
        cancellations: amounts.cancellations ?? 0,
      });
    }
  };
  book(first.at, { orders: 1 });
  const totalEffects = [totalOfLines(placedLines)];
  const customerEffects = [totalOfLines(placedLines)];
  let revenue: bigint | null = null;

  for (const event of rest) {
    if (event.version !== view.version + 1)
      problems.push(`version ${String(event.version)} follows ${String(view.version)}`);
    Object.assign(view, { version: event.version, updated_at: event.at, applied_events: view.applied_events + 1 });
    const before = totalOfLines(view.lines);
    // The store may hold any text; the cast lets the compiler demand a case for every domain event,
    // and the default reports what no case names.
    const type = event.type as OrderEventType;
    switch (type) {
      case 'OrderPlaced':
        problems.push(`version ${String(event.version)} places the order again`);
        break;
      case 'OrderLineAdded':
      case 'OrderLineRemoved': {
        const lines =
          type === 'OrderLineAdded'
            ? [...view.lines, ...normalised(event.lines ?? [])]
            : view.lines.filter((line) => line.sku !== text(event.data.sku));
        view.lines = lines;
        salesLines = lines;
        totalEffects.push(totalOfLines(lines) - before);
        if (!customerOrder.cancelled) {
          customerEffects.push(totalOfLines(lines) - totalOfLines(customerOrder.lines));
          customerOrder.lines = lines;
        }
        break;
      }
      case 'OrderConfirmed':
        Object.assign(view, {
          status: 'CONFIRMED',
          confirmed_at: event.at,
          payment_reference: text(event.data.paymentReference),
        });
        revenue = totalOfLines(view.lines);
        book(event.at, { revenue });
        break;
      case 'OrderShipped':
        Object.assign(view, {
          status: 'SHIPPED',
          shipped_at: event.at,
          carrier: text(event.data.carrier),
          tracking_number: text(event.data.trackingNumber),
        });
        break;
      case 'OrderDelivered':
        Object.assign(view, { status: 'DELIVERED', delivered_at: event.at });
        break;
      case 'OrderCancelled':
        Object.assign(view, { status: 'CANCELLED', cancelled_at: event.at, cancel_reason: text(event.data.reason) });
        book(event.at, { cancellations: 1 });
        if (!customerOrder.cancelled) {
          customerEffects.push(-totalOfLines(customerOrder.lines));
          Object.assign(customerOrder, { lines: [], cancelled: true });
        }
        break;
      case 'OrderReturned':
        Object.assign(view, { status: 'RETURNED', returned_at: event.at, return_reason: text(event.data.reason) });
        // Revenue goes back in the return's buckets; the order leaves its customer's totals.
        book(event.at, { revenue: -totalOfLines(salesLines) });
        if (!customerOrder.cancelled) {
          customerEffects.push(-totalOfLines(customerOrder.lines));
          Object.assign(customerOrder, { lines: [], cancelled: true });
        }
        break;
      default: {
        const unhandled: never = type;
        problems.push(`version ${String(event.version)} has unknown type ${String(unhandled)}`);
      }
    }
  }
  view.total_minor = totalOfLines(view.lines).toString();
  const customerTotal = customerOrder.cancelled ? 0n : totalOfLines(customerOrder.lines);
  return { view, customerOrder, salesLines, customerTotal, buckets, totalEffects, customerEffects, revenue, problems };
}

/**
 * How a stored value differs from the fold's, in events: +n when it is past it by n of the given
 * effects of one event (applied again), -n when short by them (lost), 0 when neither.
 */
export function countEffects(difference: bigint, effects: readonly bigint[]): number {
  if (difference === 0n) return 0;
  // An exact match first: an event's effect applied again, even when another event's effect is its opposite.
  if (effects.some((effect) => effect !== 0n && difference === effect)) return 1;
  if (effects.some((effect) => effect !== 0n && difference === -effect)) return -1;
  return 0;
}

/**
 * The events as the current version of their type, as every reader sees them (the domain's
 * upcasters), and what cannot be read. A type the domain does not know is left as it is: the fold
 * reports it itself.
 */
function upcast(events: readonly StoredEvent[]): { events: StoredEvent[]; unreadable: string[] } {
  const unreadable: string[] = [];
  const current = events.map((event) => {
    if (!ORDER_EVENTS.knows(event.type)) return event;
    try {
      const data = ORDER_EVENTS.upcast(event.type, event.schemaVersion, event.data) as StoredEvent['data'];
      return { ...event, data };
    } catch (error) {
      if (!(error instanceof EventContractViolation)) throw error;
      unreadable.push(`version ${String(event.version)} (${event.type}) cannot be read: ${error.message}`);
      return event;
    }
  });
  return { events: current, unreadable };
}
