import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import { eventually } from './eventually.js';
import { readTopicToEnd } from './kafka-reader.js';
import { createTestEnvironment, type TestEnvironment } from './test-environment.js';

const { Kafka, logLevel } = kafkajs;
const PARTITIONS = 3;
/**
 * Over half a consumer's 1 MB fetch per partition: a fetch holds about one such record, so the
 * aborted records and the markers after them arrive in fetches of their own, which kafkajs filters
 * to nothing and never hands to eachBatch.
 */
const RECORD_BYTES = 600 * 1024;

describe('readTopicToEnd', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('kafka_reader', { partitions: PARTITIONS });
  });

  after(async () => {
    await env.dispose();
  });

  it('reads a log that ends with transaction markers to its end: committed records only, markers and aborted records skipped', async () => {
    const topic = env.config.kafka.ordersTopic;
    const kafka = new Kafka({
      clientId: env.config.kafka.clientId,
      brokers: [...env.config.kafka.brokers],
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({
      transactionalId: `${env.config.kafka.groupPrefix}reader-test`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const value = (label: string): string => `${label}:${'x'.repeat(RECORD_BYTES)}`;
    // On every partition: two committed records, a commit marker, two aborted records, an abort marker.
    try {
      for (const outcome of ['commit', 'abort'] as const) {
        const transaction = await producer.transaction();
        for (let record = 0; record < 2; record++) {
          await transaction.send({
            topic,
            messages: Array.from({ length: PARTITIONS }, (_, partition) => ({
              partition,
              value: value(`${outcome}-${String(partition)}-${String(record)}`),
            })),
          });
        }
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
      }
    } finally {
      await producer.disconnect();
    }

    // The coordinator writes the markers after the abort has answered: read once every partition holds its own.
    await eventually(
      async () => {
        const admin = env.kafka.admin();
        await admin.connect();
        try {
          assert.deepEqual(
            (await admin.fetchTopicOffsets(topic)).map(({ high }) => high),
            Array.from({ length: PARTITIONS }, () => '6'),
          );
        } finally {
          await admin.disconnect();
        }
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const read = await readTopicToEnd(env.kafka, topic, { timeoutMs: 30_000 });

    assert.deepEqual(
      [...read.logEnd].sort(([a], [b]) => a - b),
      Array.from({ length: PARTITIONS }, (_, partition) => [partition, 6]),
    );
    const labels = read.records
      .map((record) => `${String(record.partition)}@${record.offset} ${record.value?.split(':')[0] ?? ''}`)
      .sort();
    assert.deepEqual(
      labels,
      Array.from({ length: PARTITIONS }, (_, p) => [
        `${String(p)}@0 commit-${String(p)}-0`,
        `${String(p)}@1 commit-${String(p)}-1`,
      ])
        .flat()
        .sort(),
    );
    assert.equal(
      read.skipped,
      PARTITIONS * 4,
      'per partition: the commit marker, two aborted records, the abort marker',
    );
  });

  it('reads an empty topic at once', async () => {
    const admin = env.kafka.admin();
    await admin.connect();
    const topic = `${env.config.kafka.ordersTopic}.empty`;
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      const read = await readTopicToEnd(env.kafka, topic, { timeoutMs: 5_000 });
      assert.deepEqual(
        { records: read.records.length, skipped: read.skipped, ends: [...read.logEnd.values()] },
        { records: 0, skipped: 0, ends: [0, 0] },
      );
    } finally {
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    }
  });
});
