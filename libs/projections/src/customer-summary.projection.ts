import { ORDER_EVENTS, type EventEnvelope } from '@app/messaging';
import type { OrderEvent, OrderLine } from '@app/orders-domain';

import { aggregateProjection, existing, type AggregateProjectionDefinition, type AggregateStep } from './kit/index.js';
import { totalOf, withLine, withoutLine } from './order-lines.js';

/** An order's current lines, hence its contribution to its customer's totals. */
export interface CustomerOrderRecord {
  order_id: string;
  customer_id: string;
  currency: string;
  lines: OrderLine[];
  /** The order no longer counts towards its customer's totals: cancelled or returned. */
  cancelled: boolean;
  version: number;
}

/** What a batch adds to one customer's summary: counts and totals add, the latest order is the later one. */
export interface CustomerDelta {
  customer_id: string;
  order_count: number;
  /** Exact (see totalOf); stored as JSON numbers, which jsonb keeps as numeric, of any size. */
  totals_by_currency: Record<string, bigint>;
  last_order_id: string | null;
  last_order_at: string | null;
}

type Step = AggregateStep<CustomerOrderRecord, CustomerDelta>;

export const customerSummary: AggregateProjectionDefinition<OrderEvent, CustomerOrderRecord, CustomerDelta> = {
  name: 'customer-summary',
  version: 1,
  events: ORDER_EVENTS,
  streams: {
    name: 'customer_summary_orders',
    key: 'order_id',
    columns: {
      order_id: 'uuid',
      customer_id: 'text',
      currency: 'text',
      lines: 'jsonb',
      cancelled: 'boolean',
      version: 'integer',
    },
  },
  aggregate: {
    name: 'customer_summary',
    columns: {
      customer_id: { type: 'text', combine: 'key' },
      order_count: { type: 'integer', combine: 'sum' },
      totals_by_currency: { type: 'jsonb', combine: 'sumByKey' },
      last_order_id: {
        type: 'uuid',
        combine: {
          sql: `CASE WHEN (EXCLUDED.last_order_at, EXCLUDED.last_order_id) > (t.last_order_at, t.last_order_id)
                     THEN EXCLUDED.last_order_id ELSE t.last_order_id END`,
          merge: (a, b) => later(a, b).last_order_id,
        },
      },
      last_order_at: {
        type: 'timestamptz',
        combine: {
          sql: 'GREATEST(t.last_order_at, EXCLUDED.last_order_at)',
          merge: (a, b) => later(a, b).last_order_at,
        },
      },
    },
  },
  on: {
    OrderPlaced: (_, event) => ({
      row: {
        order_id: event.streamId,
        customer_id: event.data.customerId,
        currency: event.data.currency,
        lines: [...event.data.lines],
        cancelled: false,
        version: event.version,
      },
      deltas: [
        {
          customer_id: event.data.customerId,
          order_count: 1,
          totals_by_currency: { [event.data.currency]: totalOf(event.data.lines) },
          last_order_id: event.streamId,
          last_order_at: event.occurredAt,
        },
      ],
    }),
    OrderLineAdded: (row, event) => withLines(row, event, (lines) => withLine(lines, event.data.line)),
    OrderLineRemoved: (row, event) => withLines(row, event, (lines) => withoutLine(lines, event.data.sku)),
    OrderCancelled: (row, event) => noLongerCounts(row, event),
    // A returned order gives its revenue back, as a cancelled one does; it still counts as an order.
    OrderReturned: (row, event) => noLongerCounts(row, event),
    // Neither changes what the order counts for: its total was fixed when it was confirmed.
    OrderConfirmed: 'ignore',
    OrderShipped: 'ignore',
    OrderDelivered: 'ignore',
  },
};

/** Customers' order counts and totals per currency, and their latest order (`GET /customers/:id`). */
export const customerSummaryProjection = aggregateProjection(customerSummary);

/** The order with new lines, and the change of its customer's total; nothing once it no longer counts. */
function withLines(
  row: CustomerOrderRecord | undefined,
  event: EventEnvelope,
  change: (lines: readonly OrderLine[]) => OrderLine[],
): Step {
  const order = existing(row, event);
  if (order.cancelled) return { row: order };
  const lines = change(order.lines);
  return {
    row: { ...order, lines },
    deltas: [
      {
        customer_id: order.customer_id,
        order_count: 0,
        totals_by_currency: { [order.currency]: totalOf(lines) - totalOf(order.lines) },
        last_order_id: null,
        last_order_at: null,
      },
    ],
  };
}

/** The order leaves its customer's totals: its lines stop counting, and later events change nothing. */
function noLongerCounts(row: CustomerOrderRecord | undefined, event: EventEnvelope): Step {
  const step = withLines(row, event, () => []);
  return { ...step, row: { ...step.row, cancelled: true } };
}

/** Later by time, then by order id, so orders placed in the same millisecond have a stable order. */
function later(x: CustomerDelta, y: CustomerDelta): CustomerDelta {
  if (y.last_order_at === null) return x;
  if (x.last_order_at === null) return y;
  const [at, thanAt] = [Date.parse(y.last_order_at), Date.parse(x.last_order_at)];
  const yIsLater = at !== thanAt ? at > thanAt : (y.last_order_id ?? '') > (x.last_order_id ?? '');
  return yIsLater ? y : x;
}
