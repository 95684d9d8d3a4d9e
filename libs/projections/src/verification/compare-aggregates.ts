import { classifyAmount } from './compare-orders.js';
import type { DifferenceLog } from './difference.js';
import { SALES_BUCKETS, foldOrder, type FoldedOrder } from './fold.js';
import { tableOf, type Scope } from './scope.js';
import { eventsOfOrders, exactAmountsSql, timestampText, type Sql, type VerifySources } from './sql.js';

interface ExpectedCustomer {
  orderCount: number;
  /** One entry per currency the customer ordered in, zero included: the projection adds every order's total, cancelled or not, then subtracts. */
  totals: Map<string, bigint>;
  lastOrderAt: string;
  lastOrderId: string;
}

interface ExpectedBucket {
  orders: number;
  revenue: bigint;
  cancellations: number;
}

/** How many aggregate rows with a differing amount get their events looked up to tell applied twice from lost. */
const CLASSIFIED_ROWS = 20;
const PAGE = 5_000;

/**
 * Customer summaries and sales buckets sum many orders, so they are accumulated over the whole
 * fold (memory grows with customers and buckets, not events) and compared at the end. Every row is
 * compared, zeros included: a row the fold does not produce is a difference.
 */
export class Aggregates {
  readonly customers = new Map<string, ExpectedCustomer>();
  readonly buckets = new Map<string, ExpectedBucket>();

  add(order: FoldedOrder): void {
    const { customer_id: customerId, currency, placed_at: at, order_id: orderId } = order.view;
    const customer = this.customers.get(customerId) ?? {
      orderCount: 0,
      totals: new Map<string, bigint>(),
      lastOrderAt: '',
      lastOrderId: '',
    };
    customer.orderCount++;
    customer.totals.set(currency, (customer.totals.get(currency) ?? 0n) + order.customerTotal);
    if (at > customer.lastOrderAt || (at === customer.lastOrderAt && orderId > customer.lastOrderId))
      Object.assign(customer, { lastOrderAt: at, lastOrderId: orderId });
    this.customers.set(customerId, customer);
    for (const { key, orders, revenue, cancellations } of order.buckets) {
      const bucket = this.buckets.get(key) ?? { orders: 0, revenue: 0n, cancellations: 0 };
      bucket.orders += orders;
      bucket.revenue += revenue;
      bucket.cancellations += cancellations;
      this.buckets.set(key, bucket);
    }
  }
}

export async function compareCustomers(
  sources: VerifySources,
  scope: Scope,
  expected: Aggregates,
  log: DifferenceLog,
): Promise<void> {
  const P = 'customer-summary';
  const T = 'customer_summary';
  log.figures.customers = expected.customers.size;
  const remaining = new Map(expected.customers);
  const toClassify: { customerId: string; currency: string; found: bigint | null; expected: bigint }[] = [];
  for (let after: string | null = null; ;) {
    const rows: {
      customer_id: string;
      order_count: number;
      totals: Record<string, string>;
      last_order_id: string | null;
      last_order_at: string | null;
    }[] = await sources.read.query(
      `SELECT customer_id, order_count, ${exactAmountsSql('totals_by_currency')} AS totals, last_order_id::text, ${timestampText('last_order_at')} AS last_order_at
         FROM ${tableOf(scope, P, T)} WHERE $1::text IS NULL OR customer_id > $1 ORDER BY customer_id LIMIT $2`,
      [after, PAGE],
    );
    for (const row of rows) {
      const customer = remaining.get(row.customer_id);
      remaining.delete(row.customer_id);
      if (!customer) {
        log.add({
          projection: P,
          table: T,
          key: row.customer_id,
          field: 'row',
          expected: null,
          found: `${String(row.order_count)} orders, totals ${JSON.stringify(row.totals)}`,
        });
        continue;
      }
      if (!log.field(P, T, row.customer_id, 'order_count', String(customer.orderCount), String(row.order_count))) {
        const over = row.order_count - customer.orderCount;
        if (over > 0) log.figures.appliedTwice += over;
        else log.figures.lost -= over;
      }
      for (const currency of [...new Set([...customer.totals.keys(), ...Object.keys(row.totals)])].sort()) {
        const want = customer.totals.get(currency);
        const have = row.totals[currency];
        if (
          !log.field(P, T, row.customer_id, `totals_by_currency.${currency}`, want?.toString() ?? null, have ?? null) &&
          want !== undefined &&
          have !== undefined
        ) {
          toClassify.push({ customerId: row.customer_id, currency, found: parseAmount(have), expected: want });
        }
      }
      log.field(P, T, row.customer_id, 'last_order_id', customer.lastOrderId, row.last_order_id);
      log.field(P, T, row.customer_id, 'last_order_at', customer.lastOrderAt, row.last_order_at);
    }
    if (rows.length < PAGE) break;
    after = rows.at(-1)?.customer_id ?? null;
  }
  for (const [customerId, customer] of remaining) {
    log.add({
      projection: P,
      table: T,
      key: customerId,
      field: 'row',
      expected: `${String(customer.orderCount)} orders`,
      found: null,
    });
    log.figures.lost += customer.orderCount;
  }
  for (const item of toClassify.slice(0, CLASSIFIED_ROWS)) {
    const orders = await customerOrders(sources, item.customerId);
    const effects = orders
      .filter((order) => order.view.currency === item.currency)
      .flatMap((order) => order.customerEffects);
    classifyAmount(log, item.found, item.expected, effects);
  }
}

export async function compareBuckets(
  sources: VerifySources,
  scope: Scope,
  expected: Aggregates,
  log: DifferenceLog,
): Promise<void> {
  const P = 'sales';
  const T = 'sales_buckets';
  log.figures.buckets = expected.buckets.size;
  const remaining = new Map(expected.buckets);
  const toClassify: { key: string; found: bigint | null; expected: bigint }[] = [];
  const rows = await sources.read.query<{ key: string; orders: number; revenue: string; cancellations: number }>(
    `SELECT granularity || '|' || ${timestampText('bucket_start')} || '|' || currency::text AS key, orders, revenue_minor::text AS revenue, cancellations
       FROM ${tableOf(scope, P, T)} ORDER BY 1`,
  );
  for (const row of rows) {
    const bucket = remaining.get(row.key);
    remaining.delete(row.key);
    if (!bucket) {
      log.add({
        projection: P,
        table: T,
        key: row.key,
        field: 'row',
        expected: null,
        found: `orders ${String(row.orders)}, revenue ${row.revenue}, cancellations ${String(row.cancellations)}`,
      });
      continue;
    }
    for (const [field, want, have] of [
      ['orders', bucket.orders, row.orders],
      ['cancellations', bucket.cancellations, row.cancellations],
    ] as const) {
      if (log.field(P, T, row.key, field, String(want), String(have))) continue;
      if (have > want) log.figures.appliedTwice += have - want;
      else log.figures.lost += want - have;
    }
    if (!log.field(P, T, row.key, 'revenue_minor', bucket.revenue.toString(), row.revenue))
      toClassify.push({ key: row.key, found: parseAmount(row.revenue), expected: bucket.revenue });
  }
  for (const [key, bucket] of remaining) {
    log.add({
      projection: P,
      table: T,
      key,
      field: 'row',
      expected: `orders ${String(bucket.orders)}, revenue ${bucket.revenue.toString()}, cancellations ${String(bucket.cancellations)}`,
      found: null,
    });
    log.figures.lost += bucket.orders + bucket.cancellations;
  }
  for (const item of toClassify.slice(0, CLASSIFIED_ROWS)) {
    const revenues = (await ordersConfirmedIn(sources.store, item.key))
      .map((order) => order.revenue)
      .filter((revenue) => revenue !== null);
    classifyAmount(log, item.found, item.expected, revenues);
  }
}

function parseAmount(text: string): bigint | null {
  try {
    return BigInt(text);
  } catch {
    return null;
  }
}

function folded(events: Awaited<ReturnType<typeof eventsOfOrders>>): FoldedOrder[] {
  return events.map(foldOrder).filter((order): order is FoldedOrder => order.view !== undefined);
}

/** A customer's orders, folded from the store; found through the order view's customer index (the read side). */
async function customerOrders({ store, read }: VerifySources, customerId: string): Promise<FoldedOrder[]> {
  const rows = await read.query<{ order_id: string }>(
    `SELECT order_id::text FROM public.order_view WHERE customer_id = $1 UNION SELECT order_id::text FROM public.customer_summary_orders WHERE customer_id = $1`,
    [customerId],
  );
  return folded(
    await eventsOfOrders(
      store,
      rows.map((row) => row.order_id),
    ),
  );
}

/** The orders confirmed in a bucket, folded from the store. */
async function ordersConfirmedIn(sql: Sql, key: string): Promise<FoldedOrder[]> {
  const [granularity = '', start = '', currency = ''] = key.split('|');
  const size = SALES_BUCKETS.find((bucket) => bucket.granularity === granularity)?.ms ?? 0;
  const rows = await sql.query<{ order_id: string }>(
    `SELECT DISTINCT order_id::text FROM events WHERE type = 'OrderConfirmed' AND occurred_at >= $1::timestamptz AND occurred_at < $1::timestamptz + $2 * interval '1 millisecond'`,
    [start, size],
  );
  return folded(
    await eventsOfOrders(
      sql,
      rows.map((row) => row.order_id),
    ),
  ).filter((order) => order.view.currency === currency);
}
