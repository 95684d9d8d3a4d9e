import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createTestEnvironment, eventually, type TestEnvironment } from '@app/testing';

import { BatchConsumer, type BatchHandler, type PartitionBatch } from './batch-consumer.js';
import { ensureTopics } from './kafka-connection.js';
import { orderEventsTopic } from './topics.js';

interface HandedBatch {
  readonly partition: number;
  readonly values: readonly string[];
  readonly at: number;
}

/**
 * A handler that applies everything from offset 0, stores where each partition is in memory, and
 * keeps each batch's record values, and when it came.
 */
function recordingHandler(): { handler: BatchHandler; batches: string[][]; handed: HandedBatch[] } {
  const batches: string[][] = [];
  const handed: HandedBatch[] = [];
  const stored = new Map<number, string>();
  return {
    batches,
    handed,
    handler: {
      storedOffsets: (_topic, partitions) => Promise.resolve(new Map(partitions.map((p) => [p, stored.get(p) ?? '0']))),
      handleBatch: (batch: PartitionBatch) => {
        const values = batch.records.map((record) => record.value?.toString() ?? '');
        batches.push(values);
        handed.push({ partition: batch.partition, values, at: performance.now() });
        const nextOffset = (BigInt(batch.lastOffset) + 1n).toString();
        stored.set(batch.partition, nextOffset);
        return Promise.resolve({ kind: 'applied', nextOffset });
      },
    },
  };
}

/**
 * Far longer than sending a few records takes, and well inside the test environment's 6 s session
 * timeout: kafkajs sends no heartbeat while a batch lingers.
 */
const LONG_LINGER_MS = 3_000;

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

  const newTopic = async (label: string, partitions = 1): Promise<string> => {
    const topic = { ...orderEventsTopic(env.config), name: `${env.config.kafka.ordersTopic}.${label}`, partitions };
    await ensureTopics(env.kafka, [topic]);
    return topic.name;
  };
  /** Each value in a request of its own, to partition 0 or to the partition given before it (`[partition, value]`). */
  const send = async (topic: string, ...values: (string | [number, string])[]): Promise<void> => {
    const producer = env.kafka.producer();
    await producer.connect();
    try {
      for (const sent of values) {
        const [partition, value] = typeof sent === 'string' ? [0, sent] : sent;
        await producer.send({ topic, acks: -1, messages: [{ partition, value }] });
      }
    } finally {
      await producer.disconnect();
    }
  };
  const consume = async (
    topic: string,
    lingerMs: number,
    concurrentPartitions = 1,
  ): Promise<{ consumer: BatchConsumer; batches: string[][]; handed: HandedBatch[] }> => {
    const { handler, batches, handed } = recordingHandler();
    const consumer = new BatchConsumer(
      env.kafka,
      { groupId: `${env.config.kafka.groupPrefix}${topic}`, topic, lingerMs, concurrentPartitions },
      handler,
    );
    consumers.push(consumer);
    await consumer.start();
    return { consumer, batches, handed };
  };

  it('hands over what arrives while it lingers in one batch', async () => {
    const topic = await newTopic('linger');
    // Far longer than sending three records takes, so they are all on the partition when it is
    // over; shorter than the tests' session timeout (6 s), since no heartbeat goes out meanwhile.
    const { batches } = await consume(topic, LONG_LINGER_MS);
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

  it('lingers once per fetch, not once per round of partitions', async () => {
    const topic = await newTopic('linger-rounds', 3);
    const lingerMs = LONG_LINGER_MS;
    // One partition at a time: the fetch after the linger hands over three batches in three rounds.
    const { handed } = await consume(topic, lingerMs, 1);
    await send(topic, 'first');
    await eventually(() => {
      assert.equal(handed.length, 1);
    });
    await send(topic, [0, 'a'], [1, 'b'], [2, 'c']);
    await eventually(
      () => {
        assert.equal(handed.length, 4);
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const rounds = handed.slice(1);
    assert.deepEqual(rounds.map((batch) => batch.values).sort(), [['a'], ['b'], ['c']]);
    // The first round lingers for the fetch; the rounds after it find the time passed and follow at
    // once. Lingering per batch, each would wait the whole linger again.
    const [, second, third] = rounds;
    assert.ok(
      third!.at - second!.at < lingerMs / 2,
      `the third batch came ${String(third!.at - second!.at)} ms after the second`,
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
