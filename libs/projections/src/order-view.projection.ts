import { ORDER_EVENTS, type EventEnvelope } from '@app/messaging';
import type { OrderChannel, OrderEvent, OrderLine } from '@app/orders-domain';
import { ORDER_VIEW_CHANGED_CHANNEL, type OrderView } from '@app/read-models';

import { existing, streamRowProjection, type StreamRowProjectionDefinition } from './kit/index.js';
import { totalOf, withLine, withoutLine } from './order-lines.js';

/** A row of order_view, named as the table's columns so one JSON array can upsert many rows. */
export interface OrderViewRecord {
  order_id: string;
  customer_id: string;
  status: string;
  currency: string;
  lines: OrderLine[];
  /** Decimal digits, exact (see totalOf): the column is numeric, read and written as text. */
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
  channel: OrderChannel;
  /** Events applied to this row; equal to `version` unless an event was applied twice. */
  applied_events: number;
}

/** `snake_case` to `camelCase`, as the read model names a column. */
type Camel<Column extends string> = Column extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<Camel<Tail>>}`
  : Column;
/** Columns only the projection uses: its count of applied events, for the verification. */
type WriterOnly = 'applied_events';
/** A new column fails typecheck here until the read model's entity (`OrderView`) reads it. */
type Unread = Exclude<Camel<Exclude<keyof OrderViewRecord, WriterOnly>>, keyof OrderView>;
export const everyColumnIsRead: [Unread] extends [never] ? true : `OrderView does not read ${Unread}` = true;

/** One row per order, as `GET /orders/:id` shows it. */
export const orderView: StreamRowProjectionDefinition<OrderEvent, OrderViewRecord> = {
  name: 'order-view',
  version: 1,
  events: ORDER_EVENTS,
  notify: ORDER_VIEW_CHANGED_CHANNEL,
  table: {
    name: 'order_view',
    key: 'order_id',
    columns: {
      order_id: 'uuid',
      customer_id: 'text',
      status: 'text',
      currency: 'text',
      lines: 'jsonb',
      total_minor: 'numeric',
      version: 'integer',
      placed_at: 'timestamptz',
      confirmed_at: 'timestamptz',
      shipped_at: 'timestamptz',
      delivered_at: 'timestamptz',
      cancelled_at: 'timestamptz',
      updated_at: 'timestamptz',
      payment_reference: 'text',
      carrier: 'text',
      tracking_number: 'text',
      cancel_reason: 'text',
      returned_at: 'timestamptz',
      return_reason: 'text',
      channel: 'text',
      applied_events: 'integer',
    },
  },
  on: {
    OrderPlaced: (_, event) => ({
      order_id: event.streamId,
      customer_id: event.data.customerId,
      status: 'PLACED',
      currency: event.data.currency,
      ...priced(event.data.lines),
      version: event.version,
      placed_at: event.occurredAt,
      confirmed_at: null,
      shipped_at: null,
      delivered_at: null,
      cancelled_at: null,
      updated_at: event.occurredAt,
      payment_reference: null,
      carrier: null,
      tracking_number: null,
      cancel_reason: null,
      returned_at: null,
      return_reason: null,
      channel: event.data.channel,
      applied_events: 1,
    }),
    OrderLineAdded: (row, event) => next(row, event, priced(withLine(existing(row, event).lines, event.data.line))),
    OrderLineRemoved: (row, event) => next(row, event, priced(withoutLine(existing(row, event).lines, event.data.sku))),
    OrderConfirmed: (row, event) =>
      next(row, event, {
        status: 'CONFIRMED',
        confirmed_at: event.occurredAt,
        payment_reference: event.data.paymentReference,
      }),
    OrderShipped: (row, event) =>
      next(row, event, {
        status: 'SHIPPED',
        shipped_at: event.occurredAt,
        carrier: event.data.carrier,
        tracking_number: event.data.trackingNumber,
      }),
    OrderDelivered: (row, event) => next(row, event, { status: 'DELIVERED', delivered_at: event.occurredAt }),
    OrderCancelled: (row, event) =>
      next(row, event, { status: 'CANCELLED', cancelled_at: event.occurredAt, cancel_reason: event.data.reason }),
    OrderReturned: (row, event) =>
      next(row, event, { status: 'RETURNED', returned_at: event.occurredAt, return_reason: event.data.reason }),
  },
};

export const orderViewProjection = streamRowProjection(orderView);

/**
 * The row as a later event leaves it: its `changes`, touched at the event's time, at the event's
 * version (one copy of the row per event: the kit stamps the version only when a handler did not).
 */
function next(
  row: OrderViewRecord | undefined,
  event: EventEnvelope,
  changes: Partial<Omit<OrderViewRecord, 'order_id' | 'version' | 'updated_at' | 'applied_events'>>,
): OrderViewRecord {
  const current = existing(row, event);
  return {
    ...current,
    version: event.version,
    updated_at: event.occurredAt,
    applied_events: current.applied_events + 1,
    ...changes,
  };
}

/** The order's lines, as the row stores them, and their total. */
function priced(lines: readonly OrderLine[]): Pick<OrderViewRecord, 'lines' | 'total_minor'> {
  return {
    lines: lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor })),
    total_minor: totalOf(lines).toString(),
  };
}
