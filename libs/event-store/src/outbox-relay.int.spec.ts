import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import { EventPublisher, decodeEnvelope, orderEventsTopic } from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';
import { createTestEnvironment, eventually, readTopic, type TestEnvironment } from '@app/testing';

import { EventStore } from './event-store.js';
import { OutboxRelay } from './outbox-relay.js';

describe('outbox relay', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let store: EventStore;
  let relay: OutboxRelay;

  before(async () => {
    env = await createTestEnvironment('outbox_relay');
    dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
    store = new EventStore(dataSource);
    relay = new OutboxRelay(dataSource, new EventPublisher(env.kafka, orderEventsTopic(env.config)), {
      databaseUrl: env.config.databaseUrl,
      pollIntervalMs: 5_000, // long on purpose: the test passes quickly only if NOTIFY wakes the relay
      batchSize: 100,
    });
    relay.start();
  });

  after(async () => {
    await relay.stop();
    await dataSource.destroy();
    await env.dispose();
  });

  it('publishes committed events keyed by order id, in version order, with the envelope headers', async () => {
    const orderId = randomUUID();
    const events: OrderEvent[] = [
      { type: 'OrderPlaced', data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }] } },
      { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } },
      { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } },
    ];
    const metadata = { correlationId: 'corr-1', causationId: 'cause-1' };
    await store.transaction((db) =>
      store.append(
        db,
        orderId,
        0,
        events.map((event) => ({ eventId: randomUUID(), schemaVersion: 1, event, occurredAt: new Date(), metadata })),
      ),
    );

    const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) => read.filter((r) => r.key === orderId).length >= 3);
    const ours = records.filter((record) => record.key === orderId);
    assert.equal(ours.length, 3);
    assert.equal(new Set(ours.map((record) => record.partition)).size, 1, 'one order, one partition');
    const envelopes = ours.map((record) => decodeEnvelope(Buffer.from(record.value ?? ''), Buffer.from(record.key ?? '')));
    assert.deepEqual(envelopes.map((envelope) => [envelope.version, envelope.type]), [
      [1, 'OrderPlaced'],
      [2, 'OrderConfirmed'],
      [3, 'OrderShipped'],
    ]);
    const [first] = ours;
    assert.ok(first);
    assert.deepEqual(first.headers, {
      'event-type': 'OrderPlaced',
      'schema-version': '1',
      'event-id': envelopes[0]!.eventId,
      'correlation-id': 'corr-1',
      'causation-id': 'cause-1',
    });

    await eventually(async () => {
      const { rows } = await env.db.query('SELECT count(*)::int AS n FROM outbox');
      assert.equal(rows[0].n, 0, 'the outbox is drained once the broker acknowledged');
    });
  });
});
