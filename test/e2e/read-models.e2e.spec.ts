import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import {
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  foldEventStore,
  inParallel,
  percentile,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type RunningSystem,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const ORDERS = 1_000;
const SEED = 20_261_124;

describe('read models under load: 1,000 orders with random lifecycles', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let commandApi: TestApp;
  let queryApi: TestApp;

  before(async () => {
    env = await createTestEnvironment('read_models', { partitions: 6 });
    system = await startSystem(env.config);
    ({ commandApi, queryApi } = system);
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  it('shows every command at its version (read-your-writes), and every read model equals a fold of the event store', async () => {
    const random = seededRandom(SEED);
    const seeds = Array.from({ length: ORDERS }, () => Math.floor(random() * 2 ** 32));
    const started = performance.now();
    const results = await inParallel(ORDERS, 16, (index) =>
      runRandomLifecycle(commandApi.getHttpServer(), seededRandom(seeds[index] ?? index), queryApi.getHttpServer()),
    );
    const seconds = (performance.now() - started) / 1_000;
    const delays = results.flatMap((result) => result.visibleAfterMs);
    console.log(
      `FIGURE read-your-writes (all apps and 16 clients in one test process): ${delays.length} commands in ${seconds.toFixed(1)} s; visible after ` +
        `p50 ${percentile(delays, 50).toFixed(1)} ms, p99 ${percentile(delays, 99).toFixed(1)} ms, max ${Math.max(...delays).toFixed(1)} ms`,
    );

    const { orders, events } = await eventually(() => assertReadModelsEqualFold(env.db), { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(orders, ORDERS);
    console.log(`FIGURE read-models: ${orders} orders, ${events} events; order view, customer summary and sales equal the fold`);
    const parked = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM parked_events');
    assert.equal(parked.rows[0]?.n, 0);
  });

  it('serves customers, keyset pages and sales stats that agree with the fold', async () => {
    const expected = await foldEventStore(env.db);
    const [customerId, summary] = [...expected.customers][0]!;
    const customer = await request(queryApi.getHttpServer()).get(`/customers/${customerId}`).expect(200);
    const body = customer.body as { orderCount: number; lastOrderId: string };
    assert.equal(body.orderCount, (summary as { orderCount: number }).orderCount);
    assert.equal(body.lastOrderId, (summary as { lastOrderId: string }).lastOrderId);

    const seen: string[] = [];
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
      const page = await request(queryApi.getHttpServer())
        .get('/orders')
        .query({ customerId, limit: 7, ...(cursor ? { cursor } : {}) })
        .expect(200);
      const { items, nextCursor } = page.body as { items: { orderId: string; placedAt: string }[]; nextCursor: string | null };
      seen.push(...items.map((item) => item.orderId));
      cursor = nextCursor;
    }
    const mine = [...expected.orders.values()].filter((order) => order.customerId === customerId);
    assert.deepEqual([...seen].sort(), mine.map((order) => order.orderId).sort(), 'keyset pages return every order once');

    const stats = await request(queryApi.getHttpServer())
      .get('/stats/sales')
      .query({ granularity: '1h', from: new Date(Date.now() - 3 * 3_600_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() })
      .expect(200);
    const buckets = (stats.body as { buckets: { orders: number; cancellations: number }[] }).buckets;
    assert.equal(buckets.reduce((sum, bucket) => sum + bucket.orders, 0), ORDERS);
    const cancelled = [...expected.orders.values()].filter((order) => order.status === 'CANCELLED').length;
    assert.equal(buckets.reduce((sum, bucket) => sum + bucket.cancellations, 0), cancelled);
  });

  it('answers 409 READ_MODEL_BEHIND instead of a stale read, and 400 for malformed parameters', async () => {
    const { orderId, version } = (await runRandomLifecycle(commandApi.getHttpServer(), seededRandom(1))) as { orderId: string; version: number };
    const behind = await request(queryApi.getHttpServer()).get(`/orders/${orderId}?minVersion=${version + 5}`).expect(409);
    assert.equal((behind.body as { code: string }).code, 'READ_MODEL_BEHIND');
    for (const path of ['/orders?limit=0', '/orders?limit=abc', '/orders?status=LOST', '/orders?cursor=!!', '/orders?cursor=bm9wZQ', '/orders?unknown=1',
      `/orders/${orderId}?minVersion=0`, `/orders/${orderId}?minVersion=x`, '/stats/sales', '/stats/sales?granularity=1d', '/stats/sales?granularity=5m&from=yesterday',
      '/stats/sales?granularity=5m&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', '/customers/%00', '/orders?customerId=%00', '/orders?customerId=%E0%A4%A',
      `/orders?cursor=${Buffer.from(JSON.stringify(['-005000-01-01T00:00:00Z', orderId])).toString('base64url')}`]) {
      const response = await request(queryApi.getHttpServer()).get(path);
      assert.equal(response.status, 400, `${path}: ${response.text}`);
    }
    await request(queryApi.getHttpServer()).get('/customers/nobody-at-all').expect(404);
  });

  it('exports lag per projection and partition on the worker, and HTTP latency everywhere', async () => {
    const { worker } = system;
    const metrics = (await request(worker.getHttpServer()).get('/metrics').expect(200)).text;
    for (const projection of ['order-view', 'customer-summary', 'sales']) {
      assert.match(metrics, new RegExp(`projection_consumer_lag\\{projection="${projection}",partition="0",app="projection-worker"\\} 0`));
    }
    assert.match(metrics, /projection_events_applied_total\{projection="order-view",app="projection-worker"\} \d+/);
    assert.match(metrics, /projection_batch_duration_seconds_bucket/);
    const command = (await request(commandApi.getHttpServer()).get('/metrics').expect(200)).text;
    assert.match(command, /outbox_backlog_events\{app="command-api"\} 0/);
    assert.match(command, /http_request_duration_seconds_count\{[^}]*method="POST",route="\/orders",status="201"\} \d+/);
  });

  it('serves the query API\'s OpenAPI document and Swagger UI', async () => {
    const document = (await request(queryApi.getHttpServer()).get('/docs/openapi.json').expect(200)).body as { paths: Record<string, unknown> };
    for (const path of ['/orders/{id}', '/orders', '/customers/{id}', '/stats/sales']) assert.ok(path in document.paths, `${path} is documented`);
    await request(queryApi.getHttpServer()).get('/docs').expect(200);
  });
});
