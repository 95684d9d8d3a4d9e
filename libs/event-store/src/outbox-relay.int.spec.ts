import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { Logger } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';

import { EventPublisher, KafkaConnection, decodeEnvelope, orderEventsTopic, type EventEnvelope } from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';
import { createTestEnvironment, eventually, readTopic, type ReadRecord, type TestEnvironment } from '@app/testing';

import { EventStore, OUTBOX_CHANNEL, type NewEvent } from './event-store.js';
import { OutboxRelay } from './outbox-relay.js';

const metadata = { correlationId: 'corr-1', causationId: 'cause-1' };
const placed: OrderEvent = { type: 'OrderPlaced', data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }] } };
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };

function newEvents(...events: OrderEvent[]): NewEvent[] {
  return events.map((event) => ({ eventId: randomUUID(), schemaVersion: 1, event, occurredAt: new Date(), metadata }));
}

function envelopesOf(records: readonly ReadRecord[], orderId: string): EventEnvelope[] {
  return records
    .filter((record) => record.key === orderId)
    .map((record) => decodeEnvelope(Buffer.from(record.value ?? ''), Buffer.from(record.key ?? '')));
}

describe('outbox relay', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let store: EventStore;
  let relay: OutboxRelay;

  const newRelay = (pollIntervalMs: number): OutboxRelay =>
    new OutboxRelay(dataSource, new EventPublisher(env.kafka, orderEventsTopic(env.config)), {
      databaseUrl: env.config.databaseUrl,
      pollIntervalMs,
      batchSize: 100,
    });
  const append = (orderId: string, ...events: OrderEvent[]) => store.transaction((db) => store.append(db, orderId, 0, newEvents(...events)));
  const topic = () => env.config.kafka.ordersTopic;

  before(async () => {
    env = await createTestEnvironment('outbox_relay');
    dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
    store = new EventStore(dataSource);
    relay = newRelay(5_000); // a long poll: the tests finish quickly only because NOTIFY wakes the relay
    relay.start();
  });

  after(async () => {
    await relay.stop();
    await dataSource.destroy();
    await env.dispose();
  });

  it('publishes committed events keyed by order id, in version order, with the envelope headers', async () => {
    const orderId = randomUUID();
    await append(orderId, placed, confirmed, shipped);

    const records = await readTopic(env.kafka, topic(), (read) => read.filter((r) => r.key === orderId).length >= 3);
    const ours = records.filter((record) => record.key === orderId);
    assert.equal(ours.length, 3);
    assert.equal(new Set(ours.map((record) => record.partition)).size, 1, 'one order, one partition');
    const envelopes = envelopesOf(records, orderId);
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
      assert.equal((rows[0] as { n: number }).n, 0, 'the outbox is drained once the broker acknowledged');
    });
  });

  for (const ending of ['commit', 'rollback'] as const) {
    it(`never skips a transaction that commits late, and keeps flowing when one rolls back (${ending})`, async () => {
      const slowOrder = randomUUID();
      const fastOrders = [randomUUID(), randomUUID()];
      const slow = dataSource.createQueryRunner();
      await slow.connect();
      await slow.startTransaction();
      // The slow transaction takes its positions first, then stays open while later ones commit.
      await store.append(slow.manager, slowOrder, 0, newEvents(placed, confirmed));
      for (const orderId of fastOrders) await append(orderId, placed, confirmed);
      await readTopic(env.kafka, topic(), (read) => fastOrders.every((id) => read.filter((r) => r.key === id).length === 2));

      if (ending === 'commit') await slow.commitTransaction();
      else await slow.rollbackTransaction();
      await slow.release();
      const after = randomUUID();
      await append(after, placed);

      const records = await readTopic(env.kafka, topic(), (read) =>
        read.some((r) => r.key === after) && (ending === 'rollback' || read.filter((r) => r.key === slowOrder).length === 2),
      );
      for (const orderId of fastOrders) assert.deepEqual(envelopesOf(records, orderId).map((e) => e.version), [1, 2]);
      assert.deepEqual(envelopesOf(records, slowOrder).map((e) => e.version), ending === 'commit' ? [1, 2] : []);
      assert.deepEqual(envelopesOf(records, after).map((e) => e.version), [1]);
    });
  }

  it('keeps the events while Kafka cannot be reached, and publishes them once it can', async () => {
    await relay.stop();
    // A relay whose broker address answers nothing: appends still commit, the outbox keeps them.
    const unreachable = new KafkaConnection({ ...env.config.kafka, brokers: ['127.0.0.1:1'] });
    const stranded = new OutboxRelay(dataSource, new EventPublisher(unreachable, orderEventsTopic(env.config)), {
      databaseUrl: env.config.databaseUrl,
      pollIntervalMs: 100,
      batchSize: 100,
    });
    Logger.overrideLogger(false); // the refused connections are the point here, not news
    stranded.start();
    const orderIds = [randomUUID(), randomUUID(), randomUUID()];
    try {
      await eventually(() => {
        assert.ok(stranded.isLeader);
      });
      for (const orderId of orderIds) await append(orderId, placed, confirmed);
      const { rows } = await env.db.query('SELECT count(*)::int AS n FROM outbox');
      assert.equal((rows[0] as { n: number }).n, 6);
    } finally {
      await stranded.stop();
      Logger.overrideLogger(['log', 'error', 'warn']);
    }

    relay = newRelay(5_000);
    relay.start();
    const records = await readTopic(env.kafka, topic(), (read) => orderIds.every((id) => read.filter((r) => r.key === id).length === 2));
    for (const orderId of orderIds) assert.deepEqual(envelopesOf(records, orderId).map((e) => e.version), [1, 2]);
  });

  it('has exactly one leader; a standby takes over when the leader stops', async () => {
    const standby = newRelay(100);
    standby.start();
    try {
      await eventually(() => {
        assert.ok(relay.isLeader);
      });
      assert.equal(standby.isLeader, false);

      await relay.stop();
      await eventually(() => {
        assert.ok(standby.isLeader);
      });
      const orderId = randomUUID();
      await append(orderId, placed);
      await readTopic(env.kafka, topic(), (read) => read.some((r) => r.key === orderId));
    } finally {
      await standby.stop();
      relay = newRelay(5_000);
      relay.start();
    }
  });
  it('wakes a leading relay of the same process after the commit, without a NOTIFY', async () => {
    await relay.stop();
    const listener = new pg.Client({ connectionString: env.config.databaseUrl });
    await listener.connect();
    let notifications = 0;
    listener.on('notification', () => notifications++);
    await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    const local = newRelay(120_000); // only a wake can make it publish within the read's timeout
    const localStore = new EventStore(dataSource);
    localStore.useLocalRelay(local);
    local.start();
    try {
      await eventually(() => { assert.ok(local.isLeader, 'the new relay leads'); });
      const orderId = randomUUID();
      await localStore.transaction((db) => localStore.append(db, orderId, 0, newEvents(placed)));
      const records = await readTopic(env.kafka, topic(), (read) => read.some((r) => r.key === orderId));
      assert.equal(envelopesOf(records, orderId).length, 1);
      assert.equal(notifications, 0, 'no NOTIFY: the commit woke the relay in memory');

      const other = randomUUID(); // a store with no relay of its own notifies the leader
      await append(other, placed);
      await eventually(() => { assert.equal(notifications, 1); });
    } finally {
      await local.stop();
      await listener.end();
      relay = newRelay(5_000);
      relay.start();
    }
  });
});

describe('event publisher', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('publisher', { partitions: 1 });
  });

  after(async () => {
    await env.dispose();
  });

  it('splits a batch larger than the broker accepts into several requests, in order', async () => {
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    try {
      const records = ['a', 'b', 'c'].map((tag) => ({ key: 'order-1', value: tag.repeat(400_000), headers: { tag } }));
      await publisher.publish(records);
      const read = await readTopic(env.kafka, env.config.kafka.ordersTopic, (seen) => seen.length >= 3);
      assert.deepEqual(read.map((record) => record.headers.tag), ['a', 'b', 'c']);
    } finally {
      await publisher.close();
    }
  });

  it('refuses a record over 1 MB and produces nothing of its batch', async () => {
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    try {
      await assert.rejects(
        publisher.publish([
          { key: 'order-2', value: 'small', headers: {} },
          { key: 'order-2', value: 'x'.repeat(1_100_000), headers: {} },
        ]),
        /exceeds/,
      );
      const read = await readTopic(env.kafka, env.config.kafka.ordersTopic, (seen) => seen.length >= 3);
      assert.equal(read.filter((record) => record.key === 'order-2').length, 0);
    } finally {
      await publisher.close();
    }
  });

});
