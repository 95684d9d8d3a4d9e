import type { EntityManager } from 'typeorm';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEvent, OrderLine } from '@app/orders-domain';

import { toSqlJson, totalOf, withLine, withoutLine } from './order-lines.js';
import type { Projection } from './projection.js';

/** An order's current lines, hence its contribution to its customer's totals. */
export interface CustomerOrderRecord {
  order_id: string;
  customer_id: string;
  currency: string;
  lines: OrderLine[];
  cancelled: boolean;
}

/**
 * What a batch changes in one customer's summary. Applied with one commutative upsert (counts and
 * totals are added, the latest order is the later of the two): a customer's orders live in several
 * partitions, so workers of different partitions update the same row concurrently, and a
 * read-modify-write would lose one of the updates.
 */
export interface CustomerDelta {
  customer_id: string;
  order_count: number;
  /** Exact (see totalOf); stored as JSON numbers, which jsonb keeps as numeric, of any size. */
  totals_by_currency: Record<string, bigint>;
  last_order_id: string | null;
  last_order_at: string | null;
}

export const customerSummaryProjection: Projection = {
  name: 'customer-summary',
  version: 1,
  handles: ['OrderPlaced', 'OrderLineAdded', 'OrderLineRemoved', 'OrderCancelled'],
  tables: ['customer_summary', 'customer_summary_orders'],

  async apply(db: EntityManager, events: readonly EventEnvelope[]): Promise<void> {
    const orders = await loadOrders(db, [...new Set(events.map((event) => event.streamId))]);
    const deltas = new Map<string, CustomerDelta>();
    for (const event of events) {
      const delta = evolveCustomerSummary(orders, event);
      if (delta) deltas.set(delta.customer_id, mergeDeltas(deltas.get(delta.customer_id), delta));
    }
    await saveOrders(
      db,
      [...new Set(events.map((event) => event.streamId))]
        .map((id) => orders.get(id))
        .filter((order) => order !== undefined),
    );
    // Sorted: workers of different partitions update the same customer rows, so they lock them in one order.
    await addToCustomers(
      db,
      [...deltas.values()].sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1)),
    );
  },
};

/**
 * Updates the order's contribution and returns what the event changes for its customer. Pure:
 * time comes from the event, so a rebuild gives the same rows.
 */
export function evolveCustomerSummary(
  orders: Map<string, CustomerOrderRecord>,
  envelope: EventEnvelope,
): CustomerDelta | undefined {
  const event = { type: envelope.type, data: envelope.data } as OrderEvent;
  if (event.type === 'OrderPlaced') {
    const { customerId, currency, lines } = event.data;
    orders.set(envelope.streamId, {
      order_id: envelope.streamId,
      customer_id: customerId,
      currency,
      lines: [...lines],
      cancelled: false,
    });
    return {
      customer_id: customerId,
      order_count: 1,
      totals_by_currency: { [currency]: totalOf(lines) },
      last_order_id: envelope.streamId,
      last_order_at: envelope.occurredAt,
    };
  }
  const order = orders.get(envelope.streamId);
  if (!order) throw new Error(`${event.type} for ${envelope.streamId} before OrderPlaced`);
  if (order.cancelled) return undefined;
  let next: CustomerOrderRecord;
  switch (event.type) {
    case 'OrderLineAdded':
      next = { ...order, lines: withLine(order.lines, event.data.line) };
      break;
    case 'OrderLineRemoved':
      next = { ...order, lines: withoutLine(order.lines, event.data.sku) };
      break;
    case 'OrderCancelled':
      next = { ...order, lines: [], cancelled: true };
      break;
    default:
      return undefined;
  }
  orders.set(order.order_id, next);
  const change = totalOf(next.lines) - totalOf(order.lines);
  return {
    customer_id: order.customer_id,
    order_count: 0,
    totals_by_currency: { [order.currency]: change },
    last_order_id: null,
    last_order_at: null,
  };
}

/** Combines two deltas of one customer, exactly as the upsert combines a delta with the row. */
export function mergeDeltas(a: CustomerDelta | undefined, b: CustomerDelta): CustomerDelta {
  if (!a) return b;
  const totals = { ...a.totals_by_currency };
  for (const [currency, amount] of Object.entries(b.totals_by_currency))
    totals[currency] = (totals[currency] ?? 0n) + amount;
  const bIsLater =
    b.last_order_at !== null &&
    (a.last_order_at === null ||
      isLater(b.last_order_at, b.last_order_id ?? '', a.last_order_at, a.last_order_id ?? ''));
  return {
    customer_id: a.customer_id,
    order_count: a.order_count + b.order_count,
    totals_by_currency: totals,
    last_order_id: bIsLater ? b.last_order_id : a.last_order_id,
    last_order_at: bIsLater ? b.last_order_at : a.last_order_at,
  };
}

/** Later by time, then by order id, so orders placed in the same millisecond have a stable order. */
function isLater(at: string, orderId: string, thanAt: string, thanOrderId: string): boolean {
  const [a, b] = [Date.parse(at), Date.parse(thanAt)];
  return a !== b ? a > b : orderId > thanOrderId;
}

async function loadOrders(db: EntityManager, orderIds: readonly string[]): Promise<Map<string, CustomerOrderRecord>> {
  const rows: CustomerOrderRecord[] = await db.query(
    'SELECT order_id, customer_id, currency, lines, cancelled FROM customer_summary_orders WHERE order_id = ANY($1::uuid[])',
    [orderIds],
  );
  return new Map(rows.map((row) => [row.order_id, row]));
}

async function saveOrders(db: EntityManager, orders: readonly CustomerOrderRecord[]): Promise<void> {
  await db.query(
    `INSERT INTO customer_summary_orders SELECT * FROM jsonb_populate_recordset(NULL::customer_summary_orders, $1::jsonb)
     ON CONFLICT (order_id) DO UPDATE SET lines = EXCLUDED.lines, cancelled = EXCLUDED.cancelled`,
    [toSqlJson(orders)],
  );
}

/**
 * Adds each delta to its customer's row in one statement; a customer's first order creates the row.
 * Amounts arrive as decimal strings and are added as numeric, so no sum of orders overflows (bigint
 * would fail with 22003 past 2^63 and park the event); they are stored back as JSON numbers.
 */
async function addToCustomers(db: EntityManager, deltas: readonly CustomerDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  await db.query(
    `INSERT INTO customer_summary AS c (customer_id, order_count, totals_by_currency, last_order_id, last_order_at)
     SELECT d.customer_id, d.order_count,
            (SELECT coalesce(jsonb_object_agg(t.currency, (t.amount #>> '{}')::numeric), '{}') FROM jsonb_each(d.totals_by_currency) AS t(currency, amount)),
            d.last_order_id, d.last_order_at
       FROM jsonb_to_recordset($1::jsonb)
         AS d(customer_id text, order_count int, totals_by_currency jsonb, last_order_id uuid, last_order_at timestamptz)
     ON CONFLICT (customer_id) DO UPDATE SET
       order_count = c.order_count + EXCLUDED.order_count,
       totals_by_currency = (
         SELECT jsonb_object_agg(currency, coalesce((c.totals_by_currency ->> currency)::numeric, 0) + coalesce((EXCLUDED.totals_by_currency ->> currency)::numeric, 0))
           FROM (SELECT jsonb_object_keys(c.totals_by_currency) UNION SELECT jsonb_object_keys(EXCLUDED.totals_by_currency)) AS currencies(currency)
       ),
       last_order_id = CASE WHEN (EXCLUDED.last_order_at, EXCLUDED.last_order_id) > (c.last_order_at, c.last_order_id)
                            THEN EXCLUDED.last_order_id ELSE c.last_order_id END,
       last_order_at = GREATEST(c.last_order_at, EXCLUDED.last_order_at)`,
    [toSqlJson(deltas)],
  );
}
