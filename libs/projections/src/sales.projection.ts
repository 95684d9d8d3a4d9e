import type { EntityManager } from 'typeorm';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEvent, OrderLine } from '@app/orders-domain';

import { toSqlJson, totalOf, withLine, withoutLine } from './order-lines.js';
import type { Projection } from './projection.js';

export const SALES_GRANULARITIES = { '5m': 300, '1h': 3_600 } as const;
export type SalesGranularity = keyof typeof SALES_GRANULARITIES;

/**
 * Sales per time bucket and currency: orders placed, revenue (the total of orders confirmed in the
 * bucket; lines can no longer change once confirmed), and orders cancelled. Buckets come from the
 * events' own time, so a rebuild gives the same rows.
 */
export interface SalesDelta {
  granularity: SalesGranularity;
  bucket_start: string;
  currency: string;
  orders: number;
  /** Exact (see totalOf); a numeric column, so no sum of orders overflows. */
  revenue_minor: bigint;
  cancellations: number;
}

export interface SalesOrderRecord {
  order_id: string;
  currency: string;
  lines: OrderLine[];
}

export const salesProjection: Projection = {
  name: 'sales',
  version: 1,
  handles: ['OrderPlaced', 'OrderLineAdded', 'OrderLineRemoved', 'OrderConfirmed', 'OrderCancelled'],
  tables: ['sales_buckets', 'sales_orders'],

  async apply(db: EntityManager, events: readonly EventEnvelope[]): Promise<void> {
    const orders = await loadOrders(db, [...new Set(events.map((event) => event.streamId))]);
    const deltas = new Map<string, SalesDelta>();
    for (const event of events) {
      for (const delta of evolveSales(orders, event)) {
        const key = `${delta.granularity}|${delta.bucket_start}|${delta.currency}`;
        const sum = deltas.get(key);
        deltas.set(
          key,
          sum
            ? {
                ...sum,
                orders: sum.orders + delta.orders,
                revenue_minor: sum.revenue_minor + delta.revenue_minor,
                cancellations: sum.cancellations + delta.cancellations,
              }
            : delta,
        );
      }
    }
    await saveOrders(
      db,
      [...new Set(events.map((event) => event.streamId))]
        .map((id) => orders.get(id))
        .filter((order) => order !== undefined),
    );
    // Sorted: workers of different partitions update the same bucket rows, so they lock them in one order.
    await addToBuckets(
      db,
      [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, delta]) => delta),
    );
  },
};

/** Updates the order's lines and returns what the event adds to the buckets, one delta per granularity. */
export function evolveSales(orders: Map<string, SalesOrderRecord>, envelope: EventEnvelope): SalesDelta[] {
  const event = { type: envelope.type, data: envelope.data } as OrderEvent;
  if (event.type === 'OrderPlaced') {
    orders.set(envelope.streamId, {
      order_id: envelope.streamId,
      currency: event.data.currency,
      lines: [...event.data.lines],
    });
    return deltas(envelope.occurredAt, event.data.currency, { orders: 1 });
  }
  const order = orders.get(envelope.streamId);
  if (!order) throw new Error(`${event.type} for ${envelope.streamId} before OrderPlaced`);
  switch (event.type) {
    case 'OrderLineAdded':
      orders.set(order.order_id, { ...order, lines: withLine(order.lines, event.data.line) });
      return [];
    case 'OrderLineRemoved':
      orders.set(order.order_id, { ...order, lines: withoutLine(order.lines, event.data.sku) });
      return [];
    case 'OrderConfirmed':
      return deltas(envelope.occurredAt, order.currency, { revenue_minor: totalOf(order.lines) });
    case 'OrderCancelled':
      return deltas(envelope.occurredAt, order.currency, { cancellations: 1 });
    default:
      return [];
  }
}

export function bucketStart(at: string, granularity: SalesGranularity): string {
  const size = SALES_GRANULARITIES[granularity] * 1_000;
  return new Date(Math.floor(Date.parse(at) / size) * size).toISOString();
}

function deltas(
  at: string,
  currency: string,
  amounts: Partial<Pick<SalesDelta, 'orders' | 'revenue_minor' | 'cancellations'>>,
): SalesDelta[] {
  return (Object.keys(SALES_GRANULARITIES) as SalesGranularity[]).map((granularity) => ({
    granularity,
    bucket_start: bucketStart(at, granularity),
    currency,
    orders: amounts.orders ?? 0,
    revenue_minor: amounts.revenue_minor ?? 0n,
    cancellations: amounts.cancellations ?? 0,
  }));
}

async function loadOrders(db: EntityManager, orderIds: readonly string[]): Promise<Map<string, SalesOrderRecord>> {
  const rows: SalesOrderRecord[] = await db.query(
    'SELECT order_id, currency, lines FROM sales_orders WHERE order_id = ANY($1::uuid[])',
    [orderIds],
  );
  return new Map(rows.map((row) => [row.order_id, row]));
}

async function saveOrders(db: EntityManager, orders: readonly SalesOrderRecord[]): Promise<void> {
  await db.query(
    `INSERT INTO sales_orders SELECT * FROM jsonb_populate_recordset(NULL::sales_orders, $1::jsonb)
     ON CONFLICT (order_id) DO UPDATE SET lines = EXCLUDED.lines`,
    [toSqlJson(orders)],
  );
}

/** Adds the batch's deltas, one row per bucket and currency (folded above, as ON CONFLICT requires). */
async function addToBuckets(db: EntityManager, deltas: readonly SalesDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  await db.query(
    `INSERT INTO sales_buckets AS b SELECT * FROM jsonb_populate_recordset(NULL::sales_buckets, $1::jsonb)
     ON CONFLICT (granularity, bucket_start, currency) DO UPDATE SET
       orders = b.orders + EXCLUDED.orders,
       revenue_minor = b.revenue_minor + EXCLUDED.revenue_minor,
       cancellations = b.cancellations + EXCLUDED.cancellations`,
    [toSqlJson(deltas)],
  );
}
