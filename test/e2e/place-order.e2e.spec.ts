import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { decodeEnvelope } from '@app/messaging';
import {
  createTestEnvironment,
  eventually,
  placeOrderBody,
  readTopic,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const CLIENT_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('one order end to end: command API → event store → relay → Kafka → projection → query API', () => {
  let env: TestEnvironment | undefined;
  let system: RunningSystem | undefined;

  before(async () => {
    env = await createTestEnvironment('place_order');
    system = await startSystem(env.config);
  });

  after(async () => {
    await system?.close();
    await env?.dispose();
  });

  /** The apps and environment, once `before` has made them. */
  function started(): RunningSystem & { env: TestEnvironment } {
    assert.ok(env && system, 'the test environment did not start');
    return { ...system, env };
  }

  it('places an order and reads it back from the read model', async () => {
    const { env, commandApi, queryApi } = started();
    const placed = await request(commandApi.getHttpServer())
      .post('/orders')
      .set('X-Correlation-Id', 'e2e-correlation')
      .set('traceparent', CLIENT_TRACEPARENT)
      .send(placeOrderBody({ customerId: 'customer-e2e' }))
      .expect(201);
    const { orderId, version, status } = placed.body as { orderId: string; version: number; status: string };
    assert.equal(version, 1);
    assert.equal(status, 'PLACED');
    assert.equal(placed.headers.location, `/orders/${orderId}`);
    assert.equal(placed.headers.etag, '"1"');

    const stored = await env.db.query('SELECT type, version FROM events WHERE order_id = $1', [orderId]);
    assert.deepEqual(stored.rows, [{ type: 'OrderPlaced', version: 1 }]);

    const order = await eventually(async () => {
      const response = await request(queryApi.getHttpServer()).get(`/orders/${orderId}`).expect(200);
      return response.body as Record<string, unknown>;
    });
    assert.equal(order.orderId, orderId);
    assert.equal(order.customerId, 'customer-e2e');
    assert.equal(order.status, 'PLACED');
    assert.equal(order.currency, 'EUR');
    assert.deepEqual(order.lines, [{ sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 }]);
    assert.equal(order.totalMinor, 2500);
    assert.equal(order.version, 1);

    const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) =>
      read.some((r) => r.key === orderId),
    );
    const record = records.find((r) => r.key === orderId);
    assert.ok(record);
    const envelope = decodeEnvelope(Buffer.from(record.value ?? ''), Buffer.from(record.key ?? ''));
    assert.equal(envelope.type, 'OrderPlaced');
    assert.equal(envelope.version, 1);
    assert.equal(record.headers['correlation-id'], 'e2e-correlation');
    // Tracing is off here (no OTEL_EXPORTER_OTLP_ENDPOINT): the client's traceparent travels on unchanged.
    assert.equal(record.headers.traceparent, CLIENT_TRACEPARENT);
  });

  it('rejects an invalid order with a 400 naming each bad field, and stores nothing', async () => {
    const { env, commandApi } = started();
    const response = await request(commandApi.getHttpServer())
      .post('/orders')
      .send(placeOrderBody({ currency: 'euro', lines: [{ sku: 'A', quantity: 0, unitPriceMinor: 1.5 }], extra: true }))
      .expect(400);
    const fields = (response.body as { fields: { field: string }[] }).fields.map((f) => f.field).sort();
    assert.deepEqual(fields, ['currency', 'extra', 'lines.0.quantity', 'lines.0.unitPriceMinor']);
    const { rows } = await env.db.query(`SELECT count(*)::int AS n FROM events WHERE data->>'currency' = 'euro'`);
    assert.equal(rows[0].n, 0);
  });

  it('answers 404 for an unknown order and 400 for a malformed id', async () => {
    const { queryApi } = started();
    await request(queryApi.getHttpServer()).get('/orders/6f1c1c2e-8a0b-4a6e-9a49-0d0f2b7f0e11').expect(404);
    await request(queryApi.getHttpServer()).get('/orders/not-a-uuid').expect(400);
  });

  it('reports live and ready on every HTTP process', async () => {
    const { commandApi, worker, queryApi } = started();
    for (const app of [commandApi, worker, queryApi]) {
      await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
      const ready = await request(app.getHttpServer()).get('/health/ready').expect(200);
      assert.deepEqual(ready.body, { status: 'ok', checks: { postgres: 'up', kafka: 'up' } });
    }
  });
});
