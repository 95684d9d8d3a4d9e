import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import {
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  placeOrderBody,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

/** Short, so the 409 case does not cost the default 5 s; the README names the variable that sets it. */
const MIN_VERSION_WAIT_MS = 600;
const CUSTOMER = 'contract-customer';
const ORDERS = 25;

interface ListedOrder {
  readonly orderId: string;
  readonly status: string;
  readonly placedAt: string;
  readonly version: number;
}

interface SalesBody {
  readonly granularity: string;
  readonly from: string;
  readonly to: string;
  readonly buckets: readonly {
    bucketStart: string;
    orders: number;
    revenueByCurrency: Record<string, number | string>;
    cancellations: number;
  }[];
}

interface Page {
  readonly items: readonly ListedOrder[];
  readonly nextCursor: string | null;
}

/**
 * The query API's promises in README's contract that other tests do not check: newest-first order,
 * the status filter and keyset pages of GET /orders with their limit bounds, the customer summary's
 * fields, the sales buckets' default window and bound, the ETag of GET /orders/:id, and Retry-After
 * on 409 READ_MODEL_BEHIND.
 */
describe('query API contract: lists, customers, sales stats, ETag and READ_MODEL_BEHIND', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  /** Every order of CUSTOMER, as placed, oldest first, with the status and version it ended at. */
  const placed: { orderId: string; status: string; version: number }[] = [];

  const query = () => request(system.queryApi.getHttpServer());
  const command = () => request(system.commandApi.getHttpServer());

  before(async () => {
    env = await createTestEnvironment('query_contract');
    system = await startSystem({ ...env.config, query: { minVersionWaitMs: MIN_VERSION_WAIT_MS } });
    // One at a time, so each order is placed after the previous one answered: placedAt never goes back.
    for (let index = 0; index < ORDERS; index++) {
      const { orderId } = (
        await command()
          .post('/orders')
          .send(placeOrderBody({ customerId: CUSTOMER }))
          .expect(201)
      ).body as { orderId: string };
      let status = 'PLACED';
      let version = 1;
      if (index % 3 === 1)
        ({ status, version } = (
          await command()
            .post(`/orders/${orderId}/confirm`)
            .send({ paymentReference: `pay-${String(index)}` })
            .expect(200)
        ).body as { status: string; version: number });
      if (index % 3 === 2)
        ({ status, version } = (
          await command().post(`/orders/${orderId}/cancel`).send({ reason: 'changed my mind' }).expect(200)
        ).body as { status: string; version: number });
      placed.push({ orderId, status, version });
    }
    // An order of someone else, which no list filtered on CUSTOMER may show.
    await command()
      .post('/orders')
      .send(placeOrderBody({ customerId: 'someone-else' }))
      .expect(201);
    await eventually(
      async () => {
        const { items } = (await query().get('/orders').query({ limit: 100 }).expect(200)).body as Page;
        assert.equal(items.length, ORDERS + 1);
        for (const order of placed)
          assert.equal(items.find((item) => item.orderId === order.orderId)?.version, order.version);
      },
      { timeoutMs: 60_000 },
    );
    // The customer summary and sales are consumer groups of their own, and may lag the order view.
    await eventually(() => assertReadModelsEqualFold(env), { timeoutMs: 60_000, intervalMs: 250 });
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  /** The customer's orders as the README orders them: newest first, ties by order id, descending. */
  async function expectedNewestFirst(status?: string): Promise<string[]> {
    const { items } = (await query().get('/orders').query({ customerId: CUSTOMER, limit: 100 }).expect(200))
      .body as Page;
    const placedAt = new Map(items.map((item) => [item.orderId, item.placedAt]));
    return placed
      .filter((order) => status === undefined || order.status === status)
      .map((order) => ({ orderId: order.orderId, at: placedAt.get(order.orderId) ?? '' }))
      .sort((a, b) => (a.at === b.at ? (a.orderId < b.orderId ? 1 : -1) : a.at < b.at ? 1 : -1))
      .map((order) => order.orderId);
  }

  async function allPages(
    parameters: Record<string, string | number>,
  ): Promise<{ ids: string[]; pages: number; lastCursor: string | null }> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = (
        await query()
          .get('/orders')
          .query({ ...parameters, ...(cursor === null ? {} : { cursor }) })
          .expect(200)
      ).body as Page;
      ids.push(...page.items.map((item) => item.orderId));
      pages++;
      cursor = page.nextCursor;
      assert.ok(pages <= ORDERS + 1, 'pagination never ends');
    } while (cursor !== null);
    return { ids, pages, lastCursor: cursor };
  }

  it('lists newest first: in the reverse of the placing order, placedAt never increasing down the list, ties by order id', async () => {
    const { items, nextCursor } = (await query().get('/orders').query({ customerId: CUSTOMER, limit: 100 }).expect(200))
      .body as Page;
    assert.equal(nextCursor, null);
    assert.deepEqual(items.map((item) => item.orderId).sort(), placed.map((order) => order.orderId).sort());
    // Placed one after another, so placedAt follows the placing order (equal only within one millisecond).
    const placedAt = new Map(items.map((item) => [item.orderId, item.placedAt]));
    for (let index = 1; index < placed.length; index++) {
      assert.ok(
        (placedAt.get(placed[index - 1]!.orderId) ?? '') <= (placedAt.get(placed[index]!.orderId) ?? ''),
        `order ${String(index)} was placed after the one before it`,
      );
    }
    for (let index = 1; index < items.length; index++)
      assert.ok(
        items[index - 1]!.placedAt >= items[index]!.placedAt,
        `item ${String(index)} is newer than the one before it`,
      );
    assert.deepEqual(
      items.map((item) => item.orderId),
      await expectedNewestFirst(),
    );
  });

  it('pages with limit and cursor: every order once, in order, nextCursor null on the last page and no empty page after it', async () => {
    const expected = await expectedNewestFirst();
    const bySeven = await allPages({ customerId: CUSTOMER, limit: 7 });
    assert.deepEqual(bySeven.ids, expected);
    assert.equal(bySeven.pages, Math.ceil(ORDERS / 7));
    // 25 orders in pages of 5: the fifth page is full and still the last one.
    const byFive = await allPages({ customerId: CUSTOMER, limit: 5 });
    assert.deepEqual(byFive.ids, expected);
    assert.equal(byFive.pages, ORDERS / 5);

    const first = (await query().get('/orders').query({ customerId: CUSTOMER }).expect(200)).body as Page;
    assert.equal(first.items.length, 20, 'the default limit is 20');
    assert.deepEqual(
      first.items.map((item) => item.orderId),
      expected.slice(0, 20),
    );
    assert.equal(typeof first.nextCursor, 'string');
    const rest = (
      await query()
        .get('/orders')
        .query({ customerId: CUSTOMER, cursor: first.nextCursor ?? '' })
        .expect(200)
    ).body as Page;
    assert.deepEqual(
      rest.items.map((item) => item.orderId),
      expected.slice(20),
    );
    assert.equal(rest.nextCursor, null);
  });

  it('filters by status, alone and with pages', async () => {
    for (const status of ['PLACED', 'CONFIRMED', 'CANCELLED']) {
      const expected = await expectedNewestFirst(status);
      assert.ok(expected.length >= 8, `${status}: enough orders to page through`);
      const { items } = (await query().get('/orders').query({ customerId: CUSTOMER, status, limit: 100 }).expect(200))
        .body as Page;
      assert.deepEqual(
        items.map((item) => item.orderId),
        expected,
        status,
      );
      for (const item of items) assert.equal(item.status, status);
      assert.deepEqual(
        (await allPages({ customerId: CUSTOMER, status, limit: 3 })).ids,
        expected,
        `${status} in pages of 3`,
      );
    }
    const none = (await query().get('/orders').query({ customerId: CUSTOMER, status: 'DELIVERED' }).expect(200))
      .body as Page;
    assert.deepEqual(none, { items: [], nextCursor: null });
  });

  it('accepts limit 1 to 100 and answers 400 naming the field outside', async () => {
    const one = (await query().get('/orders').query({ limit: 1 }).expect(200)).body as Page;
    assert.equal(one.items.length, 1);
    const hundred = (await query().get('/orders').query({ limit: 100 }).expect(200)).body as Page;
    assert.equal(hundred.items.length, ORDERS + 1);
    for (const limit of ['0', '101', '-1', '1.5', 'ten']) {
      const refused = await query().get('/orders').query({ limit }).expect(400);
      const fields = (refused.body as { fields: { field: string }[] }).fields.map((field) => field.field);
      assert.deepEqual(fields, ['limit'], `limit=${limit}: ${refused.text}`);
    }
  });

  it('answers GET /customers/:id with its order count, totals of the orders not cancelled, and its last order', async () => {
    const { items } = (await query().get('/orders').query({ customerId: CUSTOMER, limit: 100 }).expect(200))
      .body as Page;
    const last = placed.at(-1);
    const notCancelled = placed.filter((order) => order.status !== 'CANCELLED').length;
    const customer = await query().get(`/customers/${CUSTOMER}`).expect(200);
    assert.deepEqual(customer.body, {
      customerId: CUSTOMER,
      orderCount: ORDERS,
      totalsByCurrency: { EUR: notCancelled * 2 * 1250 },
      lastOrderId: last?.orderId,
      lastOrderAt: items.find((item) => item.orderId === last?.orderId)?.placedAt,
    });
    const unknown = await query().get('/customers/nobody').expect(404);
    assert.equal((unknown.body as { code: string }).code, 'CUSTOMER_NOT_FOUND');
  });

  it('answers GET /stats/sales with every bucket of the last 24 h by default, oldest first, counting placed, confirmed and cancelled orders', async () => {
    const asked = Date.now();
    const { from, to, buckets } = (await query().get('/stats/sales').query({ granularity: '1h' }).expect(200))
      .body as SalesBody;
    const hour = 3_600_000;
    const [start, end] = [Date.parse(from), Date.parse(to)];
    assert.deepEqual([start % hour, end % hour], [0, 0], 'the window is whole buckets');
    // [now − 24 h, now), rounded out to whole hours; the request took at most a minute.
    assert.ok(end >= asked && end <= asked + hour + 60_000, `to ${to} is the whole hour after now`);
    assert.ok(
      start <= asked + 60_000 - 24 * hour && start > asked - 25 * hour,
      `from ${from} is 24 h before now, rounded down`,
    );
    assert.deepEqual(
      buckets.map((bucket) => Date.parse(bucket.bucketStart)),
      Array.from({ length: (end - start) / hour }, (_, index) => start + index * hour),
    );
    for (const bucket of buckets)
      assert.deepEqual(Object.keys(bucket).sort(), ['bucketStart', 'cancellations', 'orders', 'revenueByCurrency']);
    const confirmed = placed.filter((order) => order.status === 'CONFIRMED').length;
    const cancelled = placed.filter((order) => order.status === 'CANCELLED').length;
    assert.equal(
      buckets.reduce((sum, bucket) => sum + bucket.orders, 0),
      ORDERS + 1,
      "every order placed, the other customer's too",
    );
    assert.equal(
      buckets.reduce((sum, bucket) => sum + bucket.cancellations, 0),
      cancelled,
    );
    assert.equal(
      buckets.reduce((sum, bucket) => sum + Number(bucket.revenueByCurrency.EUR ?? 0), 0),
      confirmed * 2 * 1250,
    );
  });

  it('answers empty buckets with zeros, and at most 2,000 buckets (400 naming from beyond)', async () => {
    const empty = (
      await query()
        .get('/stats/sales')
        .query({ granularity: '5m', from: '2025-01-01T00:00:00.000Z', to: '2025-01-01T00:15:00.000Z' })
        .expect(200)
    ).body as SalesBody;
    assert.deepEqual(empty, {
      granularity: '5m',
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-01-01T00:15:00.000Z',
      buckets: ['00', '05', '10'].map((minute) => ({
        bucketStart: `2025-01-01T00:${minute}:00.000Z`,
        orders: 0,
        revenueByCurrency: {},
        cancellations: 0,
      })),
    });
    const from = Date.parse('2025-01-01T00:00:00.000Z');
    const end = (buckets: number) => new Date(from + buckets * 300_000).toISOString();
    const most = (
      await query()
        .get('/stats/sales')
        .query({ granularity: '5m', from: new Date(from).toISOString(), to: end(2_000) })
        .expect(200)
    ).body as SalesBody;
    assert.equal(most.buckets.length, 2_000);
    const refused = await query()
      .get('/stats/sales')
      .query({ granularity: '5m', from: new Date(from).toISOString(), to: end(2_001) })
      .expect(400);
    assert.deepEqual(
      (refused.body as { fields: { field: string }[] }).fields.map((field) => field.field),
      ['from'],
    );
  });

  it('answers GET /orders/:id with ETag "<version>", and 304 to If-None-Match naming it', async () => {
    const order = placed.find((candidate) => candidate.status === 'CONFIRMED');
    assert.ok(order);
    const read = await query().get(`/orders/${order.orderId}`).expect(200);
    assert.equal(read.headers.etag, `"${String(order.version)}"`);
    assert.equal((read.body as { version: number }).version, order.version);

    const unchanged = await query()
      .get(`/orders/${order.orderId}`)
      .set('If-None-Match', `"${String(order.version)}"`)
      .expect(304);
    assert.equal(unchanged.text, '');
    const older = await query()
      .get(`/orders/${order.orderId}`)
      .set('If-None-Match', `"${String(order.version - 1)}"`)
      .expect(200);
    assert.equal(older.headers.etag, `"${String(order.version)}"`);

    // After a command the ETag moves with the version.
    const shipped = (
      await command().post(`/orders/${order.orderId}/ship`).send({ carrier: 'DHL', trackingNumber: 'T-1' }).expect(200)
    ).body as { version: number };
    // Polled, not minVersion: this system's read wait is kept short for the 409 test, and a busy machine may miss it.
    const after = await eventually(
      async () => {
        const read = await query().get(`/orders/${order.orderId}`).expect(200);
        assert.equal((read.body as { version: number }).version, shipped.version);
        return read;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(after.headers.etag, `"${String(shipped.version)}"`);
    await query()
      .get(`/orders/${order.orderId}`)
      .set('If-None-Match', `"${String(order.version)}"`)
      .expect(200);
    order.version = shipped.version;
    order.status = 'SHIPPED';
  });

  it('answers 409 READ_MODEL_BEHIND with Retry-After: 1 after waiting for a version that does not exist', async () => {
    const order = placed[0];
    assert.ok(order);
    const started = performance.now();
    const behind = await query()
      .get(`/orders/${order.orderId}`)
      .query({ minVersion: order.version + 1 })
      .expect(409);
    const waitedMs = performance.now() - started;
    assert.equal(behind.headers['retry-after'], '1');
    assert.deepEqual(
      {
        code: (behind.body as { code: string }).code,
        currentVersion: (behind.body as { currentVersion: number }).currentVersion,
      },
      { code: 'READ_MODEL_BEHIND', currentVersion: order.version },
    );
    assert.ok(
      waitedMs >= MIN_VERSION_WAIT_MS - 5,
      `answered after ${waitedMs.toFixed(0)} ms, before the ${String(MIN_VERSION_WAIT_MS)} ms wait ran out`,
    );

    const unknown = '00000000-0000-4000-8000-000000000000';
    const never = await query().get(`/orders/${unknown}`).query({ minVersion: 1 }).expect(409);
    assert.equal(never.headers['retry-after'], '1');
    assert.deepEqual(
      [(never.body as { code: string }).code, (never.body as { currentVersion: null }).currentVersion],
      ['READ_MODEL_BEHIND', null],
    );
    const missing = await query().get(`/orders/${unknown}`).expect(404);
    assert.equal((missing.body as { code: string }).code, 'ORDER_NOT_FOUND');
    assert.equal(missing.headers['retry-after'], undefined);
  });
});
