import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createTestEnvironment, eventually, type TestEnvironment } from '@app/testing';

import { BatchConsumer, type BatchHandler, type PartitionBatch } from './batch-consumer.js';
import { ensureTopics } from './kafka-connection.js';
import { orderEventsTopic } from './topics.js';

/** A handler that applies everything from offset 0 and keeps each batch's record values. */
function recordingHandler(): { handler: BatchHandler; batches: string[][] } {
  const batches: string[][] = [];
  return {
    batches,
    handler: {
      storedOffsets: (_topic, partitions) => Promise.resolve(new Map(partitions.map((p) => [p, '0']))),
      handleBatch: (batch: PartitionBatch) => {
        batches.push(batch.records.map((record) => record.value?.toString() ?? ''));
        return Promise.resolve({ kind: 'applied', nextOffset: (BigInt(batch.lastOffset) + 1n).toString() });
      },
    },
  };
}

describe('batch consumer linger, with a real broker', () => {
  let env: TestEnvironment;
  const consumers: BatchConsumer[] = [];

  before(async () => {
    env = await createTestEnvironment('batch_linger', { partitions: 1, relayEnabled: false });
  });

  after(async () => {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await env.dispose();
  });

  const newTopic = async (label: string): Promise<string> => {
    const topic = { ...orderEventsTopic(env.config), name: `${env.config.kafka.ordersTopic}.${label}`, partitions: 1 };
    await ensureTopics(env.kafka, [topic]);
    return topic.name;
  };
  const send = async (topic: string, ...values: string[]): Promise<void> => {
    const producer = env.kafka.producer();
    await producer.connect();
    try {
      for (const value of values) await producer.send({ topic, acks: -1, messages: [{ key: 'k', value }] });
    } finally {
      await producer.disconnect();
    }
  };
  const consume = async (
    topic: string,
    lingerMs: number,
  ): Promise<{ consumer: BatchConsumer; batches: string[][] }> => {
    const { handler, batches } = recordingHandler();
    const consumer = new BatchConsumer(
      env.kafka,
      { groupId: `${env.config.kafka.groupPrefix}${topic}`, topic, lingerMs },
      handler,
    );
    consumers.push(consumer);
    await consumer.start();
    return { consumer, batches };
  };

  it('hands over what arrives while it lingers in one batch', async () => {
    const topic = await newTopic('linger');
    // Far longer than sending three records takes: they are all on the partition when it is over.
    const { batches } = await consume(topic, 10_000);
    await send(topic, 'first');
    await eventually(() => {
      assert.deepEqual(batches, [['first']]);
    });
    await send(topic, 'second', 'third', 'fourth');
    await eventually(
      () => {
        assert.deepEqual(batches, [['first'], ['second', 'third', 'fourth']]);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  });

  it('stops without waiting out a linger', async () => {
    const topic = await newTopic('linger-stop');
    // Ten minutes: a stop that waited for it would outlast the test's timeout.
    const { consumer, batches } = await consume(topic, 600_000);
    await send(topic, 'only');
    await eventually(() => {
      assert.deepEqual(batches, [['only']]);
    });
    await consumer.stop();
    consumers.splice(consumers.indexOf(consumer), 1);
  });
});
