import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { deadLetterTopic } from '@app/messaging';
import {
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  eventTypeOfCommand,
  foldEventStore,
  inParallel,
  loadUntil,
  readTopicToEnd,
  reportFigure,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
  type TestServer,
} from '@app/testing';

/**
 * The largest total an order may have (2^53 - 1: above it the command API answers 409
 * TOTAL_TOO_LARGE), made of two lines within the request's bounds: 9,007 units at 10^12 and one
 * unit at 199,254,740,991.
 */
const LARGEST_TOTAL = 2n ** 53n - 1n;
const LINE_A = { sku: 'WHALE-A', quantity: 9_007, unitPriceMinor: 1_000_000_000_000 };
const LINE_B = { sku: 'WHALE-B', quantity: 1, unitPriceMinor: 199_254_740_991 };
/** Where Postgres bigint ends: the customer total and the revenue pass it this many times over. */
const BIGINT_LIMIT = 2n ** 63n;
const TIMES_PAST_BIGINT = 1n;
/** Enough largest orders that what stays after the cancellations passes bigint TIMES_PAST_BIGINT times. */
const ORDERS = 1_100;
const CANCEL_EVERY = 40;
/** Every so many orders gain their second line by a command, and as many are refused one cent more. */
const VARY_EVERY = 10;
const CUSTOMER = 'whale';
/** A currency the ordinary load never uses, so its revenue in a bucket is the whale's alone. */
const CURRENCY = 'CHF';
const BUCKETS = { '5m': 300_000, '1h': 3_600_000 } as const;

interface Answer {
  readonly status: number;
  readonly text: string;
}

interface WhaleOrder {
  readonly orderId: string;
  readonly cancelled: boolean;
}

/**
 * Reads an amount as the contract writes it: a JSON number while it is a safe integer, otherwise a
 * string of digits; anything else (a rounded number, a number past 2^53) fails.
 */
function exactAmount(value: unknown, what: string): bigint {
  if (typeof value === 'number') {
    assert.ok(Number.isSafeInteger(value), `${what}: ${value} is a number but not a safe integer`);
    return BigInt(value);
  }
  assert.ok(
    typeof value === 'string' && /^[0-9]+$/.test(value),
    `${what}: ${String(value)} is neither a safe integer nor a string of digits`,
  );
  assert.ok(
    BigInt(value) > BigInt(Number.MAX_SAFE_INTEGER),
    `${what}: ${value} is a string though a number would hold it`,
  );
  return BigInt(value);
}

/**
 * Scenario: one customer places and confirms thousands of orders at the largest total an order may
 * have, in one currency and so one sales bucket (two, should the run cross the hour), beside ordinary
 * load. The customer's total and the bucket's revenue pass 2^63, where bigint overflowed (22003) and
 * parked the event, several times over. Nothing is parked, no request fails, and the query API
 * answers the exact sums the test adds up itself, as strings where a JSON number would round.
 */
describe('fault: sums of the largest orders past bigint, under load', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let commandApi: TestServer;
  let commandUrl: string;
  let queryApi: TestServer;

  before(async () => {
    env = await createTestEnvironment('large_amounts', { partitions: 3 });
    system = await startSystem(env.config);
    commandApi = system.commandApi.getHttpServer();
    queryApi = system.queryApi.getHttpServer();
    // A listening socket with kept-alive connections: thousands of commands, each without a new server.
    await system.commandApi.listen(0, '127.0.0.1');
    commandUrl = await system.commandApi.getUrl();
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  it('keeps customer totals, order totals and sales revenue exact; nothing parked, no 5xx', async () => {
    const started = Date.now();
    const acknowledged = new AcknowledgedCommands();
    let serverErrors = 0;
    let refusedTooLarge = 0;
    const send = async (method: string, path: string, body: object | undefined, status: number): Promise<unknown> => {
      const response = await fetch(`${commandUrl}${path}`, {
        method,
        headers: body ? { 'Content-Type': 'application/json' } : {},
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const answer: Answer = { status: response.status, text: await response.text() };
      if (answer.status >= 500) serverErrors++;
      assert.equal(answer.status, status, `${method} ${path}: ${answer.text}`);
      return JSON.parse(answer.text) as unknown;
    };

    const stop = { done: false };
    const load = loadUntil(commandApi, 12, stop, {
      clients: 2,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    const whales = await inParallel(ORDERS, 12, async (index): Promise<WhaleOrder> => {
      // Most arrive whole; some gain their second line later, as many others are refused a cent more.
      const splitLines = index % VARY_EVERY === 1;
      const placed = await send(
        'POST',
        '/orders',
        { customerId: CUSTOMER, currency: CURRENCY, lines: splitLines ? [LINE_A] : [LINE_A, LINE_B] },
        201,
      );
      const { orderId } = placed as { orderId: string };
      acknowledged.record(orderId, 1, 'OrderPlaced');
      const command = async (path: string, body: object, status = 200): Promise<unknown> => {
        const answer = await send('POST', `/orders/${orderId}${path}`, body, status);
        if (status === 200)
          acknowledged.record(orderId, (answer as { version: number }).version, eventTypeOfCommand('post', path));
        return answer;
      };
      if (splitLines) await command('/lines', LINE_B);
      if (index % VARY_EVERY === 2) {
        const refused = await command('/lines', { sku: 'WHALE-C', quantity: 1, unitPriceMinor: 1 }, 409);
        assert.equal((refused as { code: string }).code, 'TOTAL_TOO_LARGE');
        refusedTooLarge++;
      }
      await command('/confirm', { paymentReference: `pay-${index}` });
      const cancelled = index % CANCEL_EVERY === 0;
      if (cancelled) await command('/cancel', { reason: 'changed my mind' });
      return { orderId, cancelled };
    });
    stop.done = true;
    const ordinaryOrders = await load;
    assert.ok(ordinaryOrders > 0, 'ordinary load ran beside the largest orders');

    const figures = await assertGuarantees(env, acknowledged);
    const { rows: parked } = await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM parked_events');
    assert.equal(parked[0]?.n, 0, 'nothing is parked');
    // Nor dead-lettered, over the whole dead-letter topic: no event failed to apply.
    const { records: deadLetters } = await readTopicToEnd(env.kafka, deadLetterTopic(env.config).name);
    assert.equal(deadLetters.length, 0, 'nothing is dead-lettered');

    // The test's own sums, exact.
    const kept = whales.filter((whale) => !whale.cancelled).length;
    const customerTotal = BigInt(kept) * LARGEST_TOTAL;
    const revenue = BigInt(ORDERS) * LARGEST_TOTAL; // revenue is booked at confirmation, before any cancellation
    assert.ok(customerTotal > TIMES_PAST_BIGINT * BIGINT_LIMIT && revenue > customerTotal);

    const customer = await request(queryApi).get(`/customers/${CUSTOMER}`);
    if (customer.status >= 500) serverErrors++;
    assert.equal(customer.status, 200, customer.text);
    const summary = customer.body as { orderCount: number; totalsByCurrency: Record<string, unknown> };
    assert.equal(summary.orderCount, ORDERS);
    assert.deepEqual(Object.keys(summary.totalsByCurrency), [CURRENCY]);
    assert.equal(exactAmount(summary.totalsByCurrency[CURRENCY], 'customer total'), customerTotal);

    const confirmedAt = await assertOrderTotals(queryApi, whales, () => {
      serverErrors++;
    });
    const buckets = await assertRevenue(queryApi, started, confirmedAt, () => {
      serverErrors++;
    });
    assert.ok(buckets.largest > BIGINT_LIMIT, 'one bucket alone passes bigint');
    assert.equal(buckets.total, revenue);

    // Ordinary customers' totals are safe integers, so they stay JSON numbers, equal to the fold.
    const ordinary = await assertOrdinaryCustomers(env, queryApi, () => {
      serverErrors++;
    });
    assert.ok(ordinary > 0);
    assert.equal(serverErrors, 0, 'no request answered 5xx');
    assert.equal(refusedTooLarge, ORDERS / VARY_EVERY, 'every cent past the largest total is refused with 409');
    assert.equal(customerTotal / BIGINT_LIMIT, TIMES_PAST_BIGINT);

    reportFigure('large-amounts', {
      ordersAtLargestTotal: ORDERS,
      ordinaryOrders,
      refusedTooLarge,
      customerTotal: customerTotal.toString(),
      revenue: revenue.toString(),
      timesPastBigint: (customerTotal / BIGINT_LIMIT).toString(),
      salesBuckets: buckets.count,
      ordinaryCustomersChecked: ordinary,
      parked: 0,
      deadLettered: deadLetters.length,
      serverErrors,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((Date.now() - started) / 1000).toFixed(1),
    });
  });
});

/** Every order of the customer, page by page: its total exact and its status as sent; returns when each was confirmed. */
async function assertOrderTotals(
  queryApi: TestServer,
  whales: readonly WhaleOrder[],
  onServerError: () => void,
): Promise<Map<string, number>> {
  const expected = new Map(whales.map((whale) => [whale.orderId, whale.cancelled ? 'CANCELLED' : 'CONFIRMED']));
  const confirmedAt = new Map<string, number>();
  for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
    const page = await request(queryApi)
      .get('/orders')
      .query({ customerId: CUSTOMER, limit: 100, ...(cursor === null ? {} : { cursor }) });
    if (page.status >= 500) onServerError();
    assert.equal(page.status, 200, page.text);
    const body = page.body as {
      items: { orderId: string; status: string; totalMinor: unknown; confirmedAt: string }[];
      nextCursor: string | null;
    };
    for (const order of body.items) {
      assert.equal(order.status, expected.get(order.orderId), `status of ${order.orderId}`);
      assert.equal(exactAmount(order.totalMinor, `total of ${order.orderId}`), LARGEST_TOTAL);
      confirmedAt.set(order.orderId, Date.parse(order.confirmedAt));
    }
    cursor = body.nextCursor;
  }
  assert.equal(confirmedAt.size, whales.length, 'every order is listed once');
  return confirmedAt;
}

/** Each bucket's revenue in both granularities equals the orders confirmed in it; returns the 1 h buckets' figures. */
async function assertRevenue(
  queryApi: TestServer,
  startedAt: number,
  confirmedAt: ReadonlyMap<string, number>,
  onServerError: () => void,
): Promise<{ count: number; largest: bigint; total: bigint }> {
  let result = { count: 0, largest: 0n, total: 0n };
  for (const [granularity, size] of Object.entries(BUCKETS)) {
    const expected = new Map<number, bigint>();
    for (const at of confirmedAt.values()) {
      const start = Math.floor(at / size) * size;
      expected.set(start, (expected.get(start) ?? 0n) + LARGEST_TOTAL);
    }
    const stats = await request(queryApi)
      .get('/stats/sales')
      .query({
        granularity,
        from: new Date(startedAt - size).toISOString(),
        to: new Date(Date.now() + size).toISOString(),
      });
    if (stats.status >= 500) onServerError();
    assert.equal(stats.status, 200, stats.text);
    const buckets = (stats.body as { buckets: { bucketStart: string; revenueByCurrency: Record<string, unknown> }[] })
      .buckets;
    const actual = new Map(
      buckets
        .filter((bucket) => bucket.revenueByCurrency[CURRENCY] !== undefined)
        .map((bucket) => [
          Date.parse(bucket.bucketStart),
          exactAmount(bucket.revenueByCurrency[CURRENCY], `${granularity} revenue at ${bucket.bucketStart}`),
        ]),
    );
    assert.deepEqual(actual, expected, `${granularity} revenue per bucket`);
    if (granularity === '1h') {
      const amounts = [...actual.values()];
      result = {
        count: actual.size,
        largest: amounts.reduce((a, b) => (b > a ? b : a), 0n),
        total: amounts.reduce((a, b) => a + b, 0n),
      };
    }
  }
  return result;
}

/** Every ordinary customer's totals, as the query API serves them, equal the fold's; returns how many were checked. */
async function assertOrdinaryCustomers(
  env: TestEnvironment,
  queryApi: TestServer,
  onServerError: () => void,
): Promise<number> {
  const fold = await foldEventStore(env.db);
  let checked = 0;
  for (const [customerId, expected] of fold.customers) {
    if (customerId === CUSTOMER) continue;
    const response = await request(queryApi).get(`/customers/${customerId}`);
    if (response.status >= 500) onServerError();
    assert.equal(response.status, 200, response.text);
    const totals = (response.body as { totalsByCurrency: Record<string, unknown> }).totalsByCurrency;
    for (const amount of Object.values(totals))
      assert.equal(typeof amount, 'number', `${customerId}: a safe total stays a JSON number`);
    const nonZero = Object.fromEntries(
      Object.entries(totals)
        .filter(([, amount]) => amount !== 0)
        .map(([currency, amount]) => [currency, BigInt(amount as number)]),
    );
    assert.deepEqual(nonZero, (expected as { totals: Record<string, bigint> }).totals, `totals of ${customerId}`);
    checked++;
  }
  return checked;
}
