import type { OrderView } from '@app/read-models';

import type { Aggregates } from './compare-aggregates.js';
import type { DifferenceLog } from './difference.js';
import { SALES_BUCKETS, type FoldedOrder } from './fold.js';
import { canonicalJson } from './sql.js';

export interface QueryApiCheck {
  /** Where the query API listens, e.g. http://127.0.0.1:3001. */
  readonly baseUrl: string;
  /** Orders, customers and buckets asked for, each. */
  readonly sample?: number;
}

const P = 'query-api';

/** An amount as the HTTP contract writes it: a JSON number while safe, else a string of digits. */
export function contractAmount(amount: bigint): number | string {
  const asNumber = Number(amount);
  return Number.isSafeInteger(asNumber) ? asNumber : amount.toString();
}

const isoMillis = (micros: string | null): string | null =>
  micros === null ? null : new Date(Date.parse(micros)).toISOString();

/** Keeps a uniform sample of the orders folded, in bounded memory (reservoir sampling). */
export class OrderSample {
  readonly orders: FoldedOrder[] = [];
  private seen = 0;

  constructor(private readonly size: number) {}

  offer(order: FoldedOrder): void {
    this.seen++;
    if (this.orders.length < this.size) this.orders.push(order);
    else {
      const slot = Math.floor(Math.random() * this.seen);
      if (slot < this.size) this.orders[slot] = order;
    }
  }
}

/**
 * Asks the query API for a sample of orders, customers and sales buckets and compares its JSON with
 * the fold, field by field: what clients read, not only what the tables hold.
 */
export async function checkQueryApi(
  check: QueryApiCheck,
  sample: OrderSample,
  aggregates: Aggregates,
  log: DifferenceLog,
): Promise<void> {
  const size = check.sample ?? 20;
  for (const order of sample.orders) await compareOrder(check.baseUrl, order, log);
  for (const [customerId, customer] of [...aggregates.customers].slice(0, size)) {
    const expected = {
      customerId,
      orderCount: customer.orderCount,
      totalsByCurrency: Object.fromEntries(
        [...customer.totals].map(([currency, amount]) => [currency, contractAmount(amount)]),
      ),
      lastOrderId: customer.lastOrderId,
      lastOrderAt: isoMillis(customer.lastOrderAt),
    };
    await compareJson(
      check.baseUrl,
      `/customers/${encodeURIComponent(customerId)}`,
      'GET /customers/:id',
      customerId,
      expected,
      log,
    );
  }
  const starts = [...new Set([...aggregates.buckets.keys()].map((key) => key.split('|').slice(0, 2).join('|')))].slice(
    0,
    size,
  );
  for (const start of starts) await compareBucket(check.baseUrl, start, aggregates, log);
}

async function compareOrder(baseUrl: string, order: FoldedOrder, log: DifferenceLog): Promise<void> {
  const { view } = order;
  // Every property the read model serves: a new one fails typecheck here until it is checked.
  const expected: Record<keyof OrderView, unknown> = {
    orderId: view.order_id,
    customerId: view.customer_id,
    status: view.status,
    currency: view.currency,
    lines: view.lines.map((line) => ({
      sku: line.sku,
      quantity: Number(line.quantity),
      unitPriceMinor: Number(line.unitPriceMinor),
    })),
    totalMinor: contractAmount(BigInt(view.total_minor)),
    version: view.version,
    placedAt: isoMillis(view.placed_at),
    confirmedAt: isoMillis(view.confirmed_at),
    shippedAt: isoMillis(view.shipped_at),
    deliveredAt: isoMillis(view.delivered_at),
    cancelledAt: isoMillis(view.cancelled_at),
    updatedAt: isoMillis(view.updated_at),
    paymentReference: view.payment_reference,
    carrier: view.carrier,
    trackingNumber: view.tracking_number,
    cancelReason: view.cancel_reason,
    returnedAt: isoMillis(view.returned_at),
    returnReason: view.return_reason,
    channel: view.channel,
  };
  await compareJson(baseUrl, `/orders/${view.order_id}`, 'GET /orders/:id', view.order_id, expected, log);
}

/** One bucket of every currency, as GET /stats/sales sums it: orders and cancellations over currencies, revenue per currency (non-zero). */
async function compareBucket(
  baseUrl: string,
  granularityAndStart: string,
  aggregates: Aggregates,
  log: DifferenceLog,
): Promise<void> {
  const [granularity = '', start = ''] = granularityAndStart.split('|');
  const size = SALES_BUCKETS.find((bucket) => bucket.granularity === granularity)?.ms ?? 0;
  const expected = {
    bucketStart: isoMillis(start),
    orders: 0,
    revenueByCurrency: {} as Record<string, number | string>,
    cancellations: 0,
  };
  for (const [key, bucket] of aggregates.buckets) {
    if (!key.startsWith(`${granularityAndStart}|`)) continue;
    expected.orders += bucket.orders;
    expected.cancellations += bucket.cancellations;
    if (bucket.revenue !== 0n) expected.revenueByCurrency[key.split('|')[2] ?? ''] = contractAmount(bucket.revenue);
  }
  const from = isoMillis(start) ?? '';
  const to = new Date(Date.parse(from) + size).toISOString();
  const path = `/stats/sales?granularity=${granularity}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  await compareJson(
    baseUrl,
    path,
    'GET /stats/sales',
    granularityAndStart,
    expected,
    log,
    (body) => (body as { buckets?: unknown[] }).buckets?.[0],
  );
}

async function compareJson(
  baseUrl: string,
  path: string,
  route: string,
  key: string,
  expected: Record<string, unknown>,
  log: DifferenceLog,
  pick: (body: unknown) => unknown = (body) => body,
): Promise<void> {
  const response = await fetch(new URL(path, baseUrl));
  if (response.status !== 200) {
    log.add({
      projection: P,
      table: route,
      key,
      field: 'status',
      expected: '200',
      found: `${String(response.status)} ${await response.text()}`,
    });
    return;
  }
  const found = (pick(await response.json()) ?? {}) as Record<string, unknown>;
  for (const field of [...new Set([...Object.keys(expected), ...Object.keys(found)])]) {
    const want = field in expected ? canonicalJson(expected[field]) : null;
    const have = field in found ? canonicalJson(found[field]) : null;
    log.field(P, route, key, field, want, have);
  }
}
