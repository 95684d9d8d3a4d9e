import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
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

const V1_PLACED = {
  customerId: 'customer-v1',
  currency: 'EUR',
  lines: [{ sku: 'OLD-1', quantity: 1, unitPriceMinor: 500 }],
};

describe('event evolution end to end: OrderPlaced v1 and v2, upcast on every read, refused when unreadable', () => {
  let env: TestEnvironment | undefined;
  let system: RunningSystem | undefined;

  before(async () => {
    env = await createTestEnvironment('event_evolution', { relay: 'in-process' });
    system = await startSystem(env.config);
  });

  after(async () => {
    await system?.close();
    await env?.dispose();
  });

  function started(): RunningSystem & { env: TestEnvironment } {
    assert.ok(env && system, 'the test environment did not start');
    return { ...system, env };
  }

  /** An event written as an older (or newer) deployment wrote it, straight into the store; queued for the relay when `relay`. */
  async function storeEvent(
    orderId: string,
    version: number,
    type: string,
    schemaVersion: number,
    data: object,
    relay: boolean,
  ) {
    const { env } = started();
    await env.db.query(
      `WITH appended AS (
         INSERT INTO events (event_id, order_id, version, type, schema_version, data, metadata, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, '{"correlationId": "old", "causationId": "old"}', now()) RETURNING position)
       INSERT INTO outbox (position) SELECT position FROM appended WHERE $7`,
      [randomUUID(), orderId, version, type, schemaVersion, JSON.stringify(data), relay],
    );
  }

  async function view(orderId: string, minVersion: number): Promise<Record<string, unknown>> {
    const { queryApi } = started();
    const response = await request(queryApi.getHttpServer()).get(`/orders/${orderId}?minVersion=${String(minVersion)}`);
    assert.equal(response.status, 200, response.text);
    return response.body as Record<string, unknown>;
  }

  it('places orders with a channel (web when absent), writes OrderPlaced v2 and shows the channel', async () => {
    const { env, commandApi } = started();
    const inStore = await request(commandApi.getHttpServer())
      .post('/orders')
      .send(placeOrderBody({ channel: 'store' }))
      .expect(201);
    const onTheWeb = await request(commandApi.getHttpServer()).post('/orders').send(placeOrderBody()).expect(201);
    const storeId = (inStore.body as { orderId: string }).orderId;
    const webId = (onTheWeb.body as { orderId: string }).orderId;
    assert.equal((await view(storeId, 1)).channel, 'store');
    assert.equal((await view(webId, 1)).channel, 'web');

    const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) =>
      read.some((r) => r.key === storeId),
    );
    const record = records.find((r) => r.key === storeId);
    assert.ok(record);
    assert.equal(record.headers['schema-version'], '2');
    const envelope = decodeEnvelope(Buffer.from(record.value ?? ''), Buffer.from(record.key ?? ''));
    assert.equal(envelope.schemaVersion, 2);
    assert.equal((envelope.data as { channel: string }).channel, 'store');
  });

  it('refuses a channel it does not know, or null, with a 400 naming it, and stores nothing', async () => {
    const { env, commandApi } = started();
    const before = await env.db.query('SELECT count(*)::int AS n FROM events');
    for (const channel of ['fax', null, 3]) {
      const response = await request(commandApi.getHttpServer())
        .post('/orders')
        .send(placeOrderBody({ channel }))
        .expect(400);
      assert.match(JSON.stringify(response.body), /channel/);
    }
    const afterwards = await env.db.query('SELECT count(*)::int AS n FROM events');
    assert.deepEqual(afterwards.rows, before.rows);
  });

  it('serves an order placed with v1 as placed on the web, and takes commands on it', async () => {
    const { commandApi } = started();
    const orderId = randomUUID();
    await storeEvent(orderId, 1, 'OrderPlaced', 1, V1_PLACED, true);
    const placed = await view(orderId, 1);
    assert.equal(placed.channel, 'web');
    assert.equal(placed.customerId, 'customer-v1');

    const confirmed = await request(commandApi.getHttpServer())
      .post(`/orders/${orderId}/confirm`)
      .send({ paymentReference: 'pay-v1' })
      .expect(200);
    assert.equal((confirmed.body as { version: number }).version, 2);
    const shown = await view(orderId, 2);
    assert.equal(shown.status, 'CONFIRMED');
    assert.equal(shown.channel, 'web');
  });

  it('answers 503 for an order whose history a newer deployment wrote, and appends nothing', async () => {
    const { env, commandApi } = started();
    const orderId = randomUUID();
    await storeEvent(orderId, 1, 'OrderPlaced', 3, { ...V1_PLACED, channel: 'web', loyaltyId: 'L-1' }, false);
    const response = await request(commandApi.getHttpServer())
      .post(`/orders/${orderId}/confirm`)
      .send({ paymentReference: 'pay-v3' })
      .expect(503);
    const body = response.body as { code: string; message: string };
    assert.equal(body.code, 'EVENT_VERSION_NEWER_THAN_SERVICE');
    assert.match(body.message, /OrderPlaced v3 is newer than this reader knows \(v2\)/);
    const stored = await env.db.query('SELECT version FROM events WHERE order_id = $1', [orderId]);
    assert.deepEqual(stored.rows, [{ version: 1 }]);
  });

  it('serves the event contract as AsyncAPI 3 with this deployment’s topics', async () => {
    const { env, commandApi } = started();
    const response = await request(commandApi.getHttpServer()).get('/docs/asyncapi.json').expect(200);
    const document = response.body as {
      asyncapi: string;
      channels: { events: { address: string }; deadLetters: { address: string } };
      components: { messages: Record<string, unknown> };
    };
    assert.equal(document.asyncapi, '3.0.0');
    assert.equal(document.channels.events.address, env.config.kafka.ordersTopic);
    assert.equal(document.channels.deadLetters.address, `${env.config.kafka.ordersTopic}.dlq`);
    assert.ok(document.components.messages.OrderPlacedV1 && document.components.messages.OrderPlacedV2);
  });

  it('the relay delivers a version newer than it knows as stored: the newer writer checked it', async () => {
    const { env } = started();
    const orderId = randomUUID();
    await storeEvent(orderId, 1, 'OrderPlaced', 3, { ...V1_PLACED, channel: 'web', loyaltyId: 'L-2' }, true);
    const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) =>
      read.some((r) => r.key === orderId),
    );
    assert.equal(records.find((r) => r.key === orderId)?.headers['schema-version'], '3');
  });

  it('the relay holds back an event that breaks the contract and its stream, publishes the other streams, and resumes once it is fixed', async () => {
    const { env, commandApi } = started();
    const broken = randomUUID();
    await storeEvent(broken, 1, 'OrderPlaced', 2, V1_PLACED, true); // v2 without its required channel
    await storeEvent(broken, 2, 'OrderConfirmed', 1, { paymentReference: 'pay-held' }, true);
    const other = await request(commandApi.getHttpServer()).post('/orders').send(placeOrderBody()).expect(201);
    const otherId = (other.body as { orderId: string }).orderId;

    // The other order was queued after both of the broken one's events: once it is published, they were screened.
    assert.equal((await view(otherId, 1)).channel, 'web');
    const held = await env.db.query(
      'SELECT e.order_id::text, e.version FROM outbox o JOIN events e ON e.position = o.position ORDER BY e.version',
    );
    assert.deepEqual(held.rows, [
      { order_id: broken, version: 1 },
      { order_id: broken, version: 2 },
    ]);
    const metrics = (await request(commandApi.getHttpServer()).get('/metrics').expect(200)).text;
    assert.match(metrics, /outbox_events_refused(\{[^}]*\})? 1\b/);

    await env.db.query(`UPDATE events SET data = data || '{"channel": "phone"}' WHERE order_id = $1 AND version = 1`, [
      broken,
    ]);
    // Held events are checked again every 10 s: wait for the recheck, then for the worker.
    const fixed = await eventually(() => view(broken, 2), { timeoutMs: 30_000 });
    assert.equal(fixed.channel, 'phone');
    assert.equal(fixed.status, 'CONFIRMED');
  });
});
