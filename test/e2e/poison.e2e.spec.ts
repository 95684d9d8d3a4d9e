import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { EventPublisher, deadLetterTopic, encodeEnvelope, orderEventsTopic } from '@app/messaging';
import { projections } from '@app/projections';
import {
  TEST_ADMIN_TOKEN,
  createTestEnvironment,
  eventually,
  placeOrderBody,
  readTopic,
  startSystem,
  type RunningSystem,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const PROJECTIONS = projections.map((projection) => projection.name);

describe('poison events: dead-lettered, their order parked, everything else flowing', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let commandApi: TestApp;
  let queryApi: TestApp;
  let publisher: EventPublisher;

  const admin = () => ({ Authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
  const view = async (orderId: string) =>
    (await request(queryApi.getHttpServer()).get(`/orders/${orderId}`)).body as { status?: string; version?: number };
  const place = async () =>
    (
      (await request(commandApi.getHttpServer()).post('/orders').send(placeOrderBody()).expect(201)).body as {
        orderId: string;
      }
    ).orderId;

  before(async () => {
    env = await createTestEnvironment('poison', { partitions: 2 });
    system = await startSystem(env.config);
    ({ commandApi, queryApi } = system);
    publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
  });

  after(async () => {
    await publisher.close();
    await system.close();
    await env.dispose();
  });

  it('dead-letters undecodable bytes, parks the later events of that order, and lets other orders flow', async () => {
    const poisoned = await place();
    await eventually(async () => {
      assert.equal((await view(poisoned)).version, 1);
    });
    await publisher.publish([{ key: poisoned, value: Buffer.from([0xde, 0xad, 0xbe, 0xef]), headers: {} }]);
    await request(commandApi.getHttpServer())
      .post(`/orders/${poisoned}/confirm`)
      .send({ paymentReference: 'p-1' })
      .expect(200);
    const healthy = await place();
    await request(commandApi.getHttpServer())
      .post(`/orders/${healthy}/confirm`)
      .send({ paymentReference: 'p-2' })
      .expect(200);

    await eventually(async () => {
      assert.equal((await view(healthy)).status, 'CONFIRMED');
    });
    const parked = await eventually(async () => {
      const list = await request(queryApi.getHttpServer())
        .get('/admin/parked-events')
        .query({ orderId: poisoned })
        .set(admin())
        .expect(200);
      const items = (
        list.body as { items: { id: string; projection: string; reason: string; deadLettered: boolean }[] }
      ).items;
      // Per projection: the poison itself, and OrderConfirmed behind it (a projection that does not read it still parks it).
      assert.equal(items.length, 2 * PROJECTIONS.length, JSON.stringify(items));
      return items;
    });
    assert.deepEqual(
      new Set(parked.filter((item) => item.deadLettered).map((item) => item.projection)),
      new Set(PROJECTIONS),
    );
    assert.ok(parked.filter((item) => item.deadLettered).every((item) => item.reason.startsWith('undecodable')));
    assert.equal(
      (await view(poisoned)).status,
      'PLACED',
      'the order is held at its last good version, never applied out of order',
    );

    const dead = await readTopic(
      env.kafka,
      deadLetterTopic(env.config).name,
      (records) => records.filter((r) => r.key === poisoned).length >= 3,
    );
    const letter = dead.find((record) => record.key === poisoned && record.headers['dlq-projection'] === 'order-view');
    assert.ok(letter);
    assert.equal(letter.headers['dlq-origin-topic'], env.config.kafka.ordersTopic);
    assert.match(letter.headers['dlq-origin-partition'] ?? '', /^\d+$/);
    assert.match(letter.headers['dlq-origin-offset'] ?? '', /^\d+$/);
    assert.match(letter.headers['dlq-error'] ?? '', /undecodable/);

    // The operator discards the poison; a retry then applies what waited behind it.
    for (const item of parked.filter((entry) => entry.deadLettered)) {
      await request(queryApi.getHttpServer()).delete(`/admin/parked-events/${item.id}`).set(admin()).expect(200);
    }
    const retried = await request(queryApi.getHttpServer())
      .post(`/admin/parked-events/orders/${poisoned}/retry`)
      .set(admin())
      .expect(200);
    assert.deepEqual(
      retried.body,
      Object.fromEntries(
        projections.map(({ name, handles }) => [
          name,
          { applied: handles.includes('OrderConfirmed') ? 1 : 0, stillParked: 0 },
        ]),
      ),
    );
    assert.equal((await view(poisoned)).status, 'CONFIRMED');
  });

  it('dead-letters an unknown event type and an event that breaks its order sequence', async () => {
    const unknownType = randomUUID();
    const skipping = await place();
    await eventually(async () => {
      assert.equal((await view(skipping)).version, 1);
    });
    const envelope = (orderId: string, type: string, version: number) =>
      encodeEnvelope(
        {
          eventId: randomUUID(),
          type,
          schemaVersion: 1,
          streamId: orderId,
          version,
          occurredAt: new Date().toISOString(),
          data: {},
        },
        { correlationId: 'c', causationId: 'c' },
      );
    await publisher.publish([envelope(unknownType, 'OrderTeleported', 1), envelope(skipping, 'OrderConfirmed', 3)]);

    const reasons = await eventually(async () => {
      const list = await request(queryApi.getHttpServer())
        .get('/admin/parked-events')
        .query({ projection: 'order-view' })
        .set(admin())
        .expect(200);
      const items = (list.body as { items: { orderId: string; reason: string }[] }).items;
      const byOrder = new Map(items.map((item) => [item.orderId, item.reason]));
      assert.ok(byOrder.has(unknownType) && byOrder.has(skipping));
      return byOrder;
    });
    assert.match(reasons.get(unknownType) ?? '', /unknown event type OrderTeleported/);
    assert.match(reasons.get(skipping) ?? '', /sequence gap: expected version 2, got 3/);
  });

  it('answers 401 to admin requests without, with a wrong, or with a malformed token, and changes nothing', async () => {
    // What an admin call could change: parked events taken (retried or discarded) and decisions recorded.
    // Earlier tests' records may still be parking meanwhile, so events may only be added, never taken.
    const state = async (): Promise<{ parked: string[]; decisions: number }> => ({
      parked: (await env.readDb.query<{ id: string }>('SELECT id::text FROM parked_events')).rows.map((row) => row.id),
      decisions:
        (await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM projection_decisions')).rows[0]?.n ?? 0,
    });
    const before = await state();
    for (const authorization of [
      undefined,
      'Bearer wrong-token-wrong-token',
      `Basic ${TEST_ADMIN_TOKEN}`,
      'Bearer',
      `Bearer ${TEST_ADMIN_TOKEN} extra`,
    ]) {
      for (const call of [
        request(queryApi.getHttpServer()).get('/admin/parked-events'),
        request(queryApi.getHttpServer()).delete('/admin/parked-events/1'),
        request(queryApi.getHttpServer()).post(`/admin/parked-events/orders/${randomUUID()}/retry`),
      ]) {
        const response = await (authorization === undefined ? call : call.set('Authorization', authorization));
        assert.equal(response.status, 401, authorization ?? 'no token');
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="admin"');
      }
    }
    const afterwards = await state();
    assert.deepEqual(
      before.parked.filter((id) => !afterwards.parked.includes(id)),
      [],
      'no parked event was taken',
    );
    assert.equal(afterwards.decisions, before.decisions, 'no decision was recorded');
  });
});
