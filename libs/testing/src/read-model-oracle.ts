import assert from 'node:assert/strict';

import type pg from 'pg';

import { deadLetterTopic } from '@app/messaging';
import type { OrderEventType } from '@app/orders-domain';
import {
  compareWithSinglePass,
  formatDifference,
  pgSql,
  projections as registeredProjections,
  verifyReadModels,
  type Difference,
  type Projection,
  type SinglePassDifference,
  type SqlSession,
  type VerificationFigures,
  type VerificationResult,
  type VerifyOptions,
} from '@app/projections';

import type { TestEnvironment } from './test-environment.js';

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
  returnedAt: number | null;
}

/** Exact: sums of orders pass 2^53, where numbers round, so every amount is a BigInt here. */
const total = (lines: readonly Line[]): bigint =>
  lines.reduce((sum, l) => sum + BigInt(l.quantity) * BigInt(l.unitPriceMinor), 0n);

/**
 * The orders, customers (non-zero totals) and sales buckets of the event store, all in memory: for
 * tests that compare the query API's answers with it. The oracle itself, and `npm run verify`,
 * stream the store through libs/projections/src/verification instead.
 */
export async function foldEventStore(
  db: pg.Pool,
): Promise<{ orders: Map<string, Order>; customers: Map<string, unknown>; sales: Map<string, unknown> }> {
  const { rows } = await db.query<EventRow>(
    `SELECT order_id::text, version, type, data, (extract(epoch FROM occurred_at) * 1000)::float8 AS at
       FROM events ORDER BY order_id, version`,
  );
  const orders = new Map<string, Order>();
  const sales = new Map<string, { orders: number; revenue: bigint; cancellations: number }>();
  const book = (
    at: number,
    currency: string,
    amounts: { orders?: number; revenue?: bigint; cancellations?: number },
  ): void => {
    for (const [granularity, size] of [
      ['5m', 300_000],
      ['1h', 3_600_000],
    ] as const) {
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
        orderId: row.order_id,
        customerId: data.customerId,
        currency: data.currency,
        status: 'PLACED',
        lines: data.lines,
        version: 1,
        placedAt: at,
        confirmedAt: null,
        shippedAt: null,
        deliveredAt: null,
        cancelledAt: null,
        returnedAt: null,
      });
      book(at, data.currency, { orders: 1 });
      continue;
    }
    const order = orders.get(row.order_id);
    assert.ok(order, `${row.type} before OrderPlaced for ${row.order_id}`);
    assert.equal(row.version, order.version + 1, `versions of ${row.order_id} are contiguous`);
    order.version = row.version;
    // Exhaustive: a new event type fails typecheck here until the fold says what it does.
    const type = row.type as OrderEventType;
    switch (type) {
      case 'OrderPlaced':
        assert.fail(`${row.order_id} is placed again at version ${String(row.version)}`);
        break;
      case 'OrderLineAdded':
        order.lines = [...order.lines, (row.data as { line: Line }).line];
        break;
      case 'OrderLineRemoved':
        order.lines = order.lines.filter((l) => l.sku !== (row.data as { sku: string }).sku);
        break;
      case 'OrderConfirmed':
        Object.assign(order, { status: 'CONFIRMED', confirmedAt: at });
        book(at, order.currency, { revenue: total(order.lines) });
        break;
      case 'OrderShipped':
        Object.assign(order, { status: 'SHIPPED', shippedAt: at });
        break;
      case 'OrderDelivered':
        Object.assign(order, { status: 'DELIVERED', deliveredAt: at });
        break;
      case 'OrderCancelled':
        Object.assign(order, { status: 'CANCELLED', cancelledAt: at });
        book(at, order.currency, { cancellations: 1 });
        break;
      case 'OrderReturned':
        Object.assign(order, { status: 'RETURNED', returnedAt: at });
        book(at, order.currency, { revenue: -total(order.lines) });
        break;
      default: {
        const unknown: never = type;
        assert.fail(`unknown event type ${String(unknown)} for ${row.order_id}`);
      }
    }
  }

  const customers = new Map<string, { orderCount: number; totals: Record<string, bigint>; last: [number, string] }>();
  for (const order of orders.values()) {
    const customer = customers.get(order.customerId) ?? {
      orderCount: 0,
      totals: {},
      last: [-Infinity, ''] as [number, string],
    };
    customer.orderCount++;
    if (order.status !== 'CANCELLED' && order.status !== 'RETURNED')
      customer.totals[order.currency] = (customer.totals[order.currency] ?? 0n) + total(order.lines);
    if (order.placedAt > customer.last[0] || (order.placedAt === customer.last[0] && order.orderId > customer.last[1]))
      customer.last = [order.placedAt, order.orderId];
    customers.set(order.customerId, customer);
  }
  return {
    orders,
    customers: new Map(
      [...customers].map(([id, c]) => [
        id,
        { orderCount: c.orderCount, totals: nonZero(c.totals), lastOrderAt: c.last[0], lastOrderId: c.last[1] },
      ]),
    ),
    sales: new Map([...sales].filter(([, b]) => b.orders > 0 || b.revenue !== 0n || b.cancellations > 0)),
  };
}

export interface FoldAgreement {
  readonly orders: number;
  readonly events: number;
  readonly customers: number;
  readonly buckets: number;
  /** Effects found applied twice, judged against the fold (never the projections' own counters): zero here. */
  readonly appliedTwice: number;
}

/** How many differences an oracle failure lists. */
const LISTED = 20;

/**
 * Asserts that every read model, side table and bookkeeping row of the database (the order view,
 * customer summary and its orders, sales buckets and orders, each projection's order versions, no
 * parked event) equals a fold of the event store from scratch: the operators' `npm run verify`
 * (libs/projections/src/verification), without the topics. Throws an AssertionError listing the
 * first differences; callers retry it with `eventually` while the projections catch up.
 */
export async function assertReadModelsEqualFold(
  databases: Databases,
  options: Pick<VerifyOptions, 'projections'> = {},
): Promise<FoldAgreement> {
  const { figures, differences } = await inSnapshots(databases, ({ store, read }) =>
    verifyReadModels({ store: pgSql(store), read: pgSql(read) }, { ...options, keepDifferences: LISTED }),
  );
  assertNoDifferences(figures, differences);
  await assertProjectionsEqualSinglePass(databases);
  return {
    orders: figures.orders,
    events: figures.events,
    customers: figures.customers,
    buckets: figures.buckets,
    appliedTwice: figures.appliedTwice,
  };
}

/**
 * Asserts that every registered projection's live tables equal a single pass of its own code over the
 * event store (`compareWithSinglePass`): the check that covers a new projection without any change
 * here. Each runs in a REPEATABLE READ snapshot that is rolled back, so nothing is left behind.
 */
export async function assertProjectionsEqualSinglePass(
  databases: Databases,
  projections: readonly Projection[] = registeredProjections,
): Promise<void> {
  const differences: SinglePassDifference[] = [];
  for (const projection of projections) {
    differences.push(
      ...(await inSnapshots(
        databases,
        ({ store, read }) => compareWithSinglePass({ store: session(store), read: session(read) }, projection),
        'REPEATABLE READ',
      )),
    );
  }
  if (differences.length === 0) return;
  throw new assert.AssertionError({
    message: [
      'projections differ from a single pass of their own code over the event store:',
      ...differences.map(
        (d) =>
          `${d.projection} ${d.table}: ${String(d.missing)} rows missing, ${String(d.unexpected)} unexpected\n    ${d.examples.join('\n    ')}`,
      ),
    ].join('\n  '),
  });
}

/**
 * Verifies the test environment's database and topics as `npm run verify` does, and returns what
 * it found without asserting: for tests that plant a defect and expect it reported.
 */
export async function verifyEnvironment(
  env: TestEnvironment,
  options: Omit<VerifyOptions, 'topic'> & { readonly withTopics?: boolean } = {},
): Promise<VerificationResult> {
  const { withTopics = true, ...rest } = options;
  const topic = withTopics
    ? { kafka: env.kafka, ordersTopic: env.config.kafka.ordersTopic, deadLetterTopic: deadLetterTopic(env.config).name }
    : undefined;
  return inSnapshots(env, ({ store, read }) =>
    verifyReadModels({ store: pgSql(store), read: pgSql(read) }, { ...rest, ...(topic ? { topic } : {}) }),
  );
}

export function assertNoDifferences(figures: VerificationFigures, differences: readonly Difference[]): void {
  if (figures.differences === 0) return;
  const summary =
    `${String(figures.differences)} differences between the read models and a fold of the event store ` +
    `(applied twice ${String(figures.appliedTwice)}, lost ${String(figures.lost)}, parked ${String(figures.parked)})`;
  throw new assert.AssertionError({
    message: [summary, ...differences.slice(0, LISTED).map(formatDifference)].join('\n  '),
  });
}

/** The test environment's two clients: the event store's and the read store's (the same pool unless separate). */
export type Databases = Pick<TestEnvironment, 'db' | 'readDb'>;

/** A pg client as the session projections write through. */
function session(client: pg.PoolClient): SqlSession {
  return {
    query: (async (text: string, params?: unknown[]) => {
      const { rows } = await client.query(text, params);
      return rows as unknown;
    }) as SqlSession['query'],
  };
}

/**
 * One REPEATABLE READ snapshot per database for the whole comparison, so rows committed meanwhile do
 * not read as differences; the read store's taken first, as `npm run verify` does (withSnapshot).
 */
async function inSnapshots<T>(
  { db, readDb }: Databases,
  read: (clients: { store: pg.PoolClient; read: pg.PoolClient }) => Promise<T>,
  isolation = 'REPEATABLE READ READ ONLY',
): Promise<T> {
  const pools = readDb === db ? [readDb] : [readDb, db];
  const clients: pg.PoolClient[] = [];
  try {
    for (const pool of pools) {
      const client = await pool.connect();
      clients.push(client);
      await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
      await client.query('SELECT 1'); // the snapshot, now: the read store's first
    }
    const [readClient, storeClient = readClient] = clients;
    if (readClient === undefined || storeClient === undefined) throw new Error('no client');
    return await read({ store: storeClient, read: readClient });
  } finally {
    for (const client of clients) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }
}

function nonZero(totals: Record<string, bigint>): Record<string, bigint> {
  return Object.fromEntries(
    Object.entries(totals)
      .filter(([, amount]) => amount !== 0n)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
