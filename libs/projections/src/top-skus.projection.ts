import { ORDER_EVENTS } from '@app/messaging';
import type { OrderEvent, OrderLine } from '@app/orders-domain';

import { aggregateProjection, existing, type AggregateProjectionDefinition, type AggregateStep } from './kit/index.js';
import { withChangedLines, withLine, withoutLine } from './order-lines.js';

/** An order's lines, and the hour it was confirmed in while it counts (null before, or once cancelled or returned). */
export interface TopSkusOrderRecord {
  order_id: string;
  currency: string;
  lines: OrderLine[];
  counted_in: string | null;
  version: number;
}

/** What a batch adds to one SKU in one hour: units and revenue of the confirmed orders that still count. */
export interface TopSkusDelta {
  hour: string;
  sku: string;
  quantity: number;
  revenue_by_currency: Record<string, bigint>;
}

type Step = AggregateStep<TopSkusOrderRecord, TopSkusDelta>;

export const topSkus: AggregateProjectionDefinition<OrderEvent, TopSkusOrderRecord, TopSkusDelta> = {
  name: 'top-skus',
  version: 1,
  events: ORDER_EVENTS,
  streams: {
    name: 'top_skus_orders',
    key: 'order_id',
    columns: { order_id: 'uuid', currency: 'text', lines: 'jsonb', counted_in: 'timestamptz', version: 'integer' },
  },
  aggregate: {
    name: 'top_skus',
    columns: {
      hour: { type: 'timestamptz', combine: 'key' },
      sku: { type: 'text', combine: 'key' },
      quantity: { type: 'numeric', combine: 'sum' },
      revenue_by_currency: { type: 'jsonb', combine: 'sumByKey' },
    },
  },
  on: {
    OrderPlaced: (_, event) => ({
      row: {
        order_id: event.streamId,
        currency: event.data.currency,
        lines: [...event.data.lines],
        counted_in: null,
        version: event.version,
      },
    }),
    OrderLineAdded: (row, event) => ({
      row: withChangedLines(row, event, (lines) => withLine(lines, event.data.line)),
    }),
    OrderLineRemoved: (row, event) => ({
      row: withChangedLines(row, event, (lines) => withoutLine(lines, event.data.sku)),
    }),
    // Counted in the hour it was confirmed, so a window of hours reads the orders confirmed in it.
    OrderConfirmed: (row, event) => {
      const order = { ...existing(row, event), counted_in: hourOf(event.occurredAt) };
      return { row: order, deltas: contribution(order, 1) };
    },
    // A cancelled or returned order stops counting: taken back from the hour it was counted in.
    OrderCancelled: (row, event) => uncount(existing(row, event)),
    OrderReturned: (row, event) => uncount(existing(row, event)),
    OrderShipped: 'ignore',
    OrderDelivered: 'ignore',
  },
};

/** Units and revenue per SKU of confirmed orders less cancelled and returned ones, by hour (`GET /stats/top-skus`). */
export const topSkusProjection = aggregateProjection(topSkus);

function uncount(order: TopSkusOrderRecord): Step {
  if (order.counted_in === null) return { row: order };
  return { row: { ...order, counted_in: null }, deltas: contribution(order, -1) };
}

/** What the order adds to (sign 1) or takes from (sign -1) each of its SKUs in the hour it counts in. */
function contribution(order: TopSkusOrderRecord, sign: 1 | -1): TopSkusDelta[] {
  const hour = order.counted_in;
  if (hour === null) return [];
  return order.lines.map((line) => ({
    hour,
    sku: line.sku,
    quantity: sign * line.quantity,
    revenue_by_currency: { [order.currency]: BigInt(sign) * BigInt(line.quantity) * BigInt(line.unitPriceMinor) },
  }));
}

function hourOf(at: string): string {
  return new Date(Math.floor(Date.parse(at) / 3_600_000) * 3_600_000).toISOString();
}
