import assert from 'node:assert/strict';

import type pg from 'pg';

/**
 * What every read model must contain, folded from scratch out of the event store. Written apart
 * from the projections on purpose: it checks the whole pipeline (nothing lost, nothing applied
 * twice, nothing out of order), not the projections against themselves.
 */
interface Line {
  sku: string;
  quantity: number;
  unitPriceMinor: number;
}

interface EventRow {
  order_id: string;
  version: number;
  type: string;
  data: Record<string, unknown>;
  at: number;
}

interface Order {
  orderId: string;
  customerId: string;
  currency: string;
  status: string;
  lines: Line[];
  version: number;
  placedAt: number;
  confirmedAt: number | null;
  shippedAt: number | null;
  deliveredAt: number | null;
  cancelledAt: number | null;
}

/** Exact: sums of orders pass 2^53, where numbers round, so every amount is a BigInt here. */
const total = (lines: readonly Line[]): bigint => lines.reduce((sum, l) => sum + BigInt(l.quantity) * BigInt(l.unitPriceMinor), 0n);

export async function foldEventStore(db: pg.Pool): Promise<{ orders: Map<string, Order>; customers: Map<string, unknown>; sales: Map<string, unknown> }> {
  const { rows } = await db.query<EventRow>(
    `SELECT order_id::text, version, type, data, (extract(epoch FROM occurred_at) * 1000)::float8 AS at
       FROM events ORDER BY order_id, version`,
  );
  const orders = new Map<string, Order>();
  const sales = new Map<string, { orders: number; revenue: bigint; cancellations: number }>();
  const book = (at: number, currency: string, amounts: { orders?: number; revenue?: bigint; cancellations?: number }): void => {
    for (const [granularity, size] of [['5m', 300_000], ['1h', 3_600_000]] as const) {
      const key = `${granularity}|${Math.floor(at / size) * size}|${currency}`;
      const bucket = sales.get(key) ?? { orders: 0, revenue: 0n, cancellations: 0 };
      bucket.orders += amounts.orders ?? 0;
      bucket.revenue += amounts.revenue ?? 0n;
      bucket.cancellations += amounts.cancellations ?? 0;
      sales.set(key, bucket);
    }
  };
  for (const row of rows) {
    const at = Math.round(row.at);
    if (row.type === 'OrderPlaced') {
      const data = row.data as { customerId: string; currency: string; lines: Line[] };
      orders.set(row.order_id, {
        orderId: row.order_id, customerId: data.customerId, currency: data.currency, status: 'PLACED', lines: data.lines, version: 1,
        placedAt: at, confirmedAt: null, shippedAt: null, deliveredAt: null, cancelledAt: null,
      });
      book(at, data.currency, { orders: 1 });
      continue;
    }
    const order = orders.get(row.order_id);
    assert.ok(order, `${row.type} before OrderPlaced for ${row.order_id}`);
    assert.equal(row.version, order.version + 1, `versions of ${row.order_id} are contiguous`);
    order.version = row.version;
    if (row.type === 'OrderLineAdded') order.lines = [...order.lines, (row.data as { line: Line }).line];
    if (row.type === 'OrderLineRemoved') order.lines = order.lines.filter((l) => l.sku !== (row.data as { sku: string }).sku);
    if (row.type === 'OrderConfirmed') {
      Object.assign(order, { status: 'CONFIRMED', confirmedAt: at });
      book(at, order.currency, { revenue: total(order.lines) });
    }
    if (row.type === 'OrderShipped') Object.assign(order, { status: 'SHIPPED', shippedAt: at });
    if (row.type === 'OrderDelivered') Object.assign(order, { status: 'DELIVERED', deliveredAt: at });
    if (row.type === 'OrderCancelled') {
      Object.assign(order, { status: 'CANCELLED', cancelledAt: at });
      book(at, order.currency, { cancellations: 1 });
    }
  }

  const customers = new Map<string, { orderCount: number; totals: Record<string, bigint>; last: [number, string] }>();
  for (const order of orders.values()) {
    const customer = customers.get(order.customerId) ?? { orderCount: 0, totals: {}, last: [-Infinity, ''] as [number, string] };
    customer.orderCount++;
    if (order.status !== 'CANCELLED') customer.totals[order.currency] = (customer.totals[order.currency] ?? 0n) + total(order.lines);
    if (order.placedAt > customer.last[0] || (order.placedAt === customer.last[0] && order.orderId > customer.last[1])) customer.last = [order.placedAt, order.orderId];
    customers.set(order.customerId, customer);
  }
  return {
    orders,
    customers: new Map([...customers].map(([id, c]) => [id, { orderCount: c.orderCount, totals: nonZero(c.totals), lastOrderAt: c.last[0], lastOrderId: c.last[1] }])),
    sales: new Map([...sales].filter(([, b]) => b.orders > 0 || b.revenue !== 0n || b.cancellations > 0)),
  };
}

/** Asserts that the order view, customer summary and sales buckets equal the fold of the event store. */
export async function assertReadModelsEqualFold(db: pg.Pool): Promise<{ orders: number; events: number }> {
  const parked = await db.query<{ projection: string; order_id: string; reason: string }>('SELECT projection, order_id, reason FROM parked_events LIMIT 5');
  assert.deepEqual(parked.rows, [], 'no event is parked');
  const expected = await foldEventStore(db);

  const views = await db.query<Record<string, unknown>>(
    `SELECT order_id::text, customer_id, status, currency, lines, total_minor::text AS total, version, applied_events,
            (extract(epoch FROM placed_at) * 1000)::float8 AS placed_at, (extract(epoch FROM confirmed_at) * 1000)::float8 AS confirmed_at,
            (extract(epoch FROM shipped_at) * 1000)::float8 AS shipped_at, (extract(epoch FROM delivered_at) * 1000)::float8 AS delivered_at,
            (extract(epoch FROM cancelled_at) * 1000)::float8 AS cancelled_at
       FROM order_view`,
  );
  const actualOrders = new Map(views.rows.map((row) => [row.order_id as string, row]));
  assert.equal(actualOrders.size, expected.orders.size, 'one order view row per order in the event store');
  let events = 0;
  for (const order of expected.orders.values()) {
    events += order.version;
    const row = actualOrders.get(order.orderId);
    assert.ok(row, `order view of ${order.orderId}`);
    const ms = (value: unknown): number | null => (value === null ? null : Math.round(value as number));
    assert.deepEqual(
      {
        customerId: row.customer_id, status: row.status, currency: (row.currency as string).trim(), lines: row.lines, total: BigInt(row.total as string), version: row.version,
        appliedEvents: row.applied_events, placedAt: ms(row.placed_at), confirmedAt: ms(row.confirmed_at), shippedAt: ms(row.shipped_at),
        deliveredAt: ms(row.delivered_at), cancelledAt: ms(row.cancelled_at),
      },
      {
        customerId: order.customerId, status: order.status, currency: order.currency, lines: order.lines, total: total(order.lines), version: order.version,
        appliedEvents: order.version, placedAt: order.placedAt, confirmedAt: order.confirmedAt, shippedAt: order.shippedAt,
        deliveredAt: order.deliveredAt, cancelledAt: order.cancelledAt,
      },
      `order view of ${order.orderId}`,
    );
  }

  const summaries = await db.query<Record<string, unknown>>(
    // Totals as text: the pg driver parses jsonb with JSON.parse, which rounds numbers past 2^53.
    `SELECT customer_id, order_count, last_order_id::text, (extract(epoch FROM last_order_at) * 1000)::float8 AS last_order_at,
            (SELECT coalesce(jsonb_object_agg(t.currency, t.amount #>> '{}'), '{}') FROM jsonb_each(totals_by_currency) AS t(currency, amount)) AS totals_by_currency
       FROM customer_summary`,
  );
  assert.deepEqual(
    new Map(summaries.rows.map((row) => [row.customer_id as string, {
      orderCount: row.order_count, totals: nonZero(exact(row.totals_by_currency as Record<string, string>)), lastOrderAt: Math.round(row.last_order_at as number), lastOrderId: row.last_order_id,
    }])),
    expected.customers,
    'customer summaries',
  );

  const buckets = await db.query<Record<string, unknown>>(
    `SELECT granularity, (extract(epoch FROM bucket_start) * 1000)::float8 AS start, currency, orders, revenue_minor::text AS revenue, cancellations FROM sales_buckets`,
  );
  assert.deepEqual(
    new Map(buckets.rows
      .map((row) => [`${row.granularity as string}|${Math.round(row.start as number)}|${(row.currency as string).trim()}`, { orders: row.orders as number, revenue: BigInt(row.revenue as string), cancellations: row.cancellations as number }] as const)
      .filter(([, bucket]) => bucket.orders > 0 || bucket.revenue !== 0n || bucket.cancellations > 0)),
    expected.sales,
    'sales buckets',
  );
  return { orders: expected.orders.size, events };
}

function nonZero(totals: Record<string, bigint>): Record<string, bigint> {
  return Object.fromEntries(Object.entries(totals).filter(([, amount]) => amount !== 0n).sort(([a], [b]) => a.localeCompare(b)));
}

function exact(totals: Record<string, string>): Record<string, bigint> {
  return Object.fromEntries(Object.entries(totals).map(([currency, amount]) => [currency, BigInt(amount)]));
}
