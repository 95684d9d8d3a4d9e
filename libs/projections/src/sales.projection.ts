import { ORDER_EVENTS, type EventEnvelope } from '@app/messaging';
import type { OrderEvent, OrderLine } from '@app/orders-domain';

import { aggregateProjection, existing, type AggregateProjectionDefinition } from './kit/index.js';
import { totalOf, withChangedLines, withLine, withoutLine } from './order-lines.js';

export const SALES_GRANULARITIES = { '5m': 300, '1h': 3_600 } as const;
export type SalesGranularity = keyof typeof SALES_GRANULARITIES;

/**
 * Sales per time bucket and currency: orders placed, revenue (the total of orders confirmed in the
 * bucket, less the total of orders returned in it; lines can no longer change once confirmed), and
 * orders cancelled. Buckets come from the
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
  version: number;
}

export const sales: AggregateProjectionDefinition<OrderEvent, SalesOrderRecord, SalesDelta> = {
  name: 'sales',
  version: 1,
  events: ORDER_EVENTS,
  streams: {
    name: 'sales_orders',
    key: 'order_id',
    columns: { order_id: 'uuid', currency: 'text', lines: 'jsonb', version: 'integer' },
  },
  aggregate: {
    name: 'sales_buckets',
    columns: {
      granularity: { type: 'text', combine: 'key' },
      bucket_start: { type: 'timestamptz', combine: 'key' },
      currency: { type: 'text', combine: 'key' },
      orders: { type: 'integer', combine: 'sum' },
      revenue_minor: { type: 'numeric', combine: 'sum' },
      cancellations: { type: 'integer', combine: 'sum' },
    },
  },
  on: {
    OrderPlaced: (_, event) => ({
      row: {
        order_id: event.streamId,
        currency: event.data.currency,
        lines: [...event.data.lines],
        version: event.version,
      },
      deltas: inBuckets(event, event.data.currency, { orders: 1 }),
    }),
    OrderLineAdded: (row, event) => ({
      row: withChangedLines(row, event, (lines) => withLine(lines, event.data.line)),
    }),
    OrderLineRemoved: (row, event) => ({
      row: withChangedLines(row, event, (lines) => withoutLine(lines, event.data.sku)),
    }),
    OrderConfirmed: (row, event) => {
      const order = existing(row, event);
      return { row: order, deltas: inBuckets(event, order.currency, { revenue_minor: totalOf(order.lines) }) };
    },
    OrderCancelled: (row, event) => {
      const order = existing(row, event);
      return { row: order, deltas: inBuckets(event, order.currency, { cancellations: 1 }) };
    },
    // Revenue booked at confirmation is taken back in the bucket of the return (as a refund is booked).
    OrderReturned: (row, event) => {
      const order = existing(row, event);
      return { row: order, deltas: inBuckets(event, order.currency, { revenue_minor: -totalOf(order.lines) }) };
    },
    // Sales count what is ordered and paid, not how it travels.
    OrderShipped: 'ignore',
    OrderDelivered: 'ignore',
  },
};

/** Orders, revenue and cancellations per currency in 5-minute and hourly buckets (`GET /stats/sales`). */
export const salesProjection = aggregateProjection(sales);

export function bucketStart(at: string, granularity: SalesGranularity): string {
  const size = SALES_GRANULARITIES[granularity] * 1_000;
  return new Date(Math.floor(Date.parse(at) / size) * size).toISOString();
}

/** What an event adds to the buckets its time falls in, one delta per granularity. */
function inBuckets(
  event: EventEnvelope,
  currency: string,
  amounts: Partial<Pick<SalesDelta, 'orders' | 'revenue_minor' | 'cancellations'>>,
): SalesDelta[] {
  return (Object.keys(SALES_GRANULARITIES) as SalesGranularity[]).map((granularity) => ({
    granularity,
    bucket_start: bucketStart(event.occurredAt, granularity),
    currency,
    orders: amounts.orders ?? 0,
    revenue_minor: amounts.revenue_minor ?? 0n,
    cancellations: amounts.cancellations ?? 0,
  }));
}
