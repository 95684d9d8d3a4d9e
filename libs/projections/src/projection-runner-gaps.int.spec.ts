import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import { BatchConsumer, encodeEnvelope, ensureTopics, orderEventsTopic, type EventEnvelope } from '@app/messaging';
import {
  createTestEnvironment,
  eventually,
  transactionalProducer,
  type TestEnvironment,
  type TransactionalProducer,
} from '@app/testing';

import { orderViewProjection } from './order-view.projection.js';
import { ProjectionRunner } from './projection-runner.js';

const at = '2026-11-24T10:00:00.000Z';

function message(envelope: EventEnvelope): { key: string; value: string; headers: Record<string, string> } {
  return encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c' });
}

function placed(orderId: string): EventEnvelope {
  return {
    eventId: randomUUID(),
    type: 'OrderPlaced',
    schemaVersion: 1,
    streamId: orderId,
    version: 1,
    occurredAt: at,
    data: { customerId: 'c', currency: 'EUR', lines: [] },
  };
}

function confirmed(orderId: string, version = 2): EventEnvelope {
  return {
    eventId: randomUUID(),
    type: 'OrderConfirmed',
    schemaVersion: 1,
    streamId: orderId,
    version,
    occurredAt: at,
    data: { paymentReference: 'p' },
  };
}

/**
 * The real consumer and runner against offsets the consumer never sees (ADR 6): transaction markers
 * and aborted records from a real transactional producer, and records removed with delete-records.
 */
describe('projection runner over offset gaps, with a real broker', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let producer: TransactionalProducer;
  const consumers: BatchConsumer[] = [];

  before(async () => {
    env = await createTestEnvironment('runner_gaps', { partitions: 1, relayEnabled: false });
    dataSource = await new DataSource({ type: 'postgres', url: env.config.readDatabaseUrl }).initialize();
    producer = await transactionalProducer(env, 'tx');
  });

  after(async () => {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await producer.disconnect();
    await dataSource.destroy();
    await env.dispose();
  });

  const view = async (orderId: string): Promise<unknown> =>
    (await env.readDb.query('SELECT status, version FROM order_view WHERE order_id = $1', [orderId])).rows[0];
  const storedOffset = async (topic: string): Promise<number> =>
    Number(
      (
        await env.readDb.query<{ next_offset: string }>('SELECT next_offset FROM projection_offsets WHERE topic = $1', [
          topic,
        ])
      ).rows[0]?.next_offset ?? -1,
    );
  const logEnd = async (topic: string): Promise<{ low: number; high: number }> => {
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const [partition] = await admin.fetchTopicOffsets(topic);
      return { low: Number(partition?.low ?? -1), high: Number(partition?.high ?? -1) };
    } finally {
      await admin.disconnect();
    }
  };
  const newTopic = async (label: string): Promise<string> => {
    const topic = { ...orderEventsTopic(env.config), name: `${env.config.kafka.ordersTopic}.${label}`, partitions: 1 };
    await ensureTopics(env.kafka, [topic]);
    return topic.name;
  };
  /** Sends the messages with a plain (not transactional) producer, in one request. */
  const sendPlain = async (topic: string, messages: ReturnType<typeof message>[]): Promise<void> => {
    const plain = env.kafka.producer();
    await plain.connect();
    await plain.send({ topic, acks: -1, messages });
    await plain.disconnect();
  };
  const project = async (topic: string, auditIntervalMs?: number): Promise<void> => {
    const consumer = new BatchConsumer(
      env.kafka,
      { groupId: `${env.config.kafka.groupPrefix}${topic}`, topic, auditIntervalMs },
      new ProjectionRunner(dataSource, orderViewProjection),
    );
    consumers.push(consumer);
    await consumer.start();
  };
  const inTransaction = async (
    topic: string,
    messages: ReturnType<typeof message>[],
    end: 'commit' | 'abort',
  ): Promise<void> => {
    const transaction = await producer.transaction();
    await transaction.send({ topic, acks: -1, messages });
    await (end === 'commit' ? transaction.commit() : transaction.abort());
  };

  it('projects committed records, never aborted ones, and stores the log end though it is a marker', async () => {
    const topic = await newTopic('tx');
    const [order, stranger] = [randomUUID(), randomUUID()];
    await inTransaction(topic, [message(placed(order))], 'commit');
    await inTransaction(
      topic,
      [
        message({ ...confirmed(order), type: 'OrderCancelled', data: { reason: 'aborted' } }),
        message(placed(stranger)),
      ],
      'abort',
    );
    await inTransaction(topic, [message(confirmed(order))], 'commit');
    await inTransaction(topic, [message(placed(stranger))], 'abort');
    // The coordinator writes the last marker after the abort has answered.
    const high = await eventually(
      async () => {
        const { high: end } = await logEnd(topic);
        assert.equal(end, 9, '2 committed records, 3 aborted ones and 4 markers');
        return end;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );

    await project(topic);
    await eventually(
      async () => {
        assert.equal(await storedOffset(topic), high);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.deepEqual(await view(order), { status: 'CONFIRMED', version: 2 });
    assert.equal(await view(stranger), undefined, 'an aborted record is never projected');
  });

  it('moves past records deleted from the log before it applied them', async () => {
    const topic = await newTopic('deleted');
    const [gone, kept] = [randomUUID(), randomUUID()];
    await sendPlain(topic, [message(placed(gone)), message(confirmed(gone)), message(placed(kept))]);
    const admin = env.kafka.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [topic] }); // kafkajs' delete-records needs it loaded
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '2' }] });
    await admin.disconnect();
    assert.deepEqual(await logEnd(topic), { low: 2, high: 3 });

    await project(topic);
    await eventually(
      async () => {
        assert.equal(await storedOffset(topic), 3);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.deepEqual(await view(kept), { status: 'PLACED', version: 1 });
    assert.equal(await view(gone), undefined);
  });

  it('seeks to the stored offsets once the store answers, when it did not at the assignment', async () => {
    // Kafka's committed offset is past the store's (a read-model commit lost in a database crash) and
    // no record follows: only the seek to the stored offset makes the consumer read what it lost.
    const topic = await newTopic('store-down');
    const order = randomUUID();
    await sendPlain(topic, [message(placed(order)), message(confirmed(order))]);
    const groupId = `${env.config.kafka.groupPrefix}${topic}`;
    const admin = env.kafka.admin();
    await admin.connect();
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '2' }] });
    await admin.disconnect();

    const runner = new ProjectionRunner(dataSource, orderViewProjection);
    let refusals = 2;
    const consumer = new BatchConsumer(
      env.kafka,
      { groupId, topic },
      {
        storedOffsets: (asked, partitions) =>
          refusals-- > 0 ? Promise.reject(new Error('the store is down')) : runner.storedOffsets(asked, partitions),
        handleBatch: (batch) => runner.handleBatch(batch),
      },
    );
    consumers.push(consumer);
    await consumer.start();
    await eventually(
      async () => {
        assert.deepEqual(await view(order), { status: 'CONFIRMED', version: 2 });
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.ok(refusals < 0, 'the store was asked again after it refused');
    assert.equal(await storedOffset(topic), 2);
  });

  it('reads again what a lost commit took from a partition that gets nothing more', async () => {
    // A live projection commits asynchronously: a crash of Postgres can lose its last transaction,
    // rows and offset together, while the consumer has moved on. No later record shows the gap.
    const topic = await newTopic('lost-commit');
    const order = randomUUID();
    await sendPlain(topic, [message(placed(order)), message(confirmed(order))]);
    const applied = () =>
      eventually(
        async () => {
          assert.deepEqual(await view(order), { status: 'CONFIRMED', version: 2 });
          assert.equal(await storedOffset(topic), 2);
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
    await project(topic, 100);
    await applied();

    // What the lost commit leaves: the order's row, its version and the offset as before it.
    const schema = (
      await env.readDb.query<{ schema_name: string }>(
        'SELECT schema_name FROM projection_generations WHERE projection = $1',
        [orderViewProjection.name],
      )
    ).rows[0]?.schema_name;
    assert.ok(schema, 'the order view has a live generation');
    const table = (name: string): string => `"${schema}".${name}`;
    const { rows: lost } = await env.readDb.query<{ rows: number; versions: number; offsets: number }>(
      `WITH rows AS (DELETE FROM ${table('order_view')} WHERE order_id = $1::uuid RETURNING 1),
            versions AS (DELETE FROM ${table('projection_order_versions')}
                          WHERE projection = $2 AND order_id = $1::text RETURNING 1),
            offsets AS (UPDATE ${table('projection_offsets')} SET next_offset = 0
                         WHERE projection = $2 AND topic = $3 RETURNING 1)
       SELECT (SELECT count(*) FROM rows)::int AS rows, (SELECT count(*) FROM versions)::int AS versions,
              (SELECT count(*) FROM offsets)::int AS offsets`,
      [order, orderViewProjection.name, topic],
    );
    assert.deepEqual(lost, [{ rows: 1, versions: 1, offsets: 1 }]);

    await applied();
  });
});
