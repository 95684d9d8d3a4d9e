import type { Consumer, KafkaMessage } from 'kafkajs';

import type { KafkaConnection } from '@app/messaging';

import { eventually } from './eventually.js';

export interface ReadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Reads a topic from the beginning with a throwaway consumer group until `done` holds for what
 * was read (or the timeout passes), and returns every record seen. The group is deleted afterwards.
 */
export async function readTopic(
  kafka: KafkaConnection,
  topic: string,
  done: (records: readonly ReadRecord[]) => boolean,
  { timeoutMs = 20_000 } = {},
): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  return withThrowawayConsumer(kafka, topic, async (consumer) => {
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        records.push(toReadRecord(partition, message));
        return Promise.resolve();
      },
    });
    await eventually(() => {
      if (!done(records)) throw new Error(`read ${records.length} records of ${topic}, condition not met yet`);
    }, { timeoutMs });
    return records;
  });
}

export interface TopicToEnd {
  /** Every record a read_committed consumer is given, each partition's in offset order. */
  readonly records: readonly ReadRecord[];
  /** Each partition's log end when the read began: the offset the next record would get. */
  readonly logEnd: ReadonlyMap<number, number>;
  /**
   * Offsets between each partition's log start and log end that held no record the consumer was
   * given: transaction markers, and records of aborted transactions.
   */
  readonly skipped: number;
}

/**
 * Reads a whole topic: takes each partition's log end first, then consumes until the consumer's
 * position on every partition has reached it. The position counts what the consumer passes over
 * without handing it out: transaction markers and aborted records inside a batch move
 * `batch.lastOffset()`, and a fetch of nothing else never reaches eachBatch, only kafkajs'
 * START_BATCH_PROCESS event (with batchSize 0). A log that ends with a marker is read to its end,
 * where "until the last record" would wait forever. For a topic nothing is writing to any more: an
 * open transaction holds a read_committed consumer back from the log end.
 */
export async function readTopicToEnd(kafka: KafkaConnection, topic: string, { timeoutMs = 20_000 } = {}): Promise<TopicToEnd> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const logStart = new Map(offsets.map(({ partition, low }) => [partition, Number(low)]));
  const logEnd = new Map(offsets.map(({ partition, high }) => [partition, Number(high)]));
  const position = new Map(logStart);
  const advance = (partition: number, lastOffset: string): void => {
    position.set(partition, Math.max(position.get(partition) ?? 0, Number(lastOffset) + 1));
  };
  const records: ReadRecord[] = [];
  return withThrowawayConsumer(kafka, topic, async (consumer) => {
    consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize === 0) advance(payload.partition, payload.lastOffset);
    });
    await consumer.run({
      eachBatch: ({ batch }) => {
        for (const message of batch.messages) records.push(toReadRecord(batch.partition, message));
        advance(batch.partition, batch.lastOffset());
        return Promise.resolve();
      },
    });
    await eventually(() => {
      const behind = [...logEnd].filter(([partition, end]) => (position.get(partition) ?? 0) < end);
      if (behind.length > 0) {
        const report = behind.map(([partition, end]) => `partition ${String(partition)} at ${String(position.get(partition))} of ${String(end)}`);
        throw new Error(`reading ${topic} to its log end: ${report.join(', ')}`);
      }
    }, { timeoutMs, intervalMs: 50 });
    const span = [...logEnd].reduce((sum, [partition, end]) => sum + end - (logStart.get(partition) ?? 0), 0);
    return { records, logEnd, skipped: span - records.length };
  });
}

/** A consumer in a group of its own, reading `topic` from the beginning; the group is deleted after. */
async function withThrowawayConsumer<T>(kafka: KafkaConnection, topic: string, read: (consumer: Consumer) => Promise<T>): Promise<T> {
  const groupId = `test-reader-${topic}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const consumer = kafka.consumer(groupId);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    return await read(consumer);
  } finally {
    await consumer.disconnect();
    // After disconnect the group has no member left, so the broker lets it go.
    await kafka.deleteGroups([groupId]);
  }
}

function toReadRecord(partition: number, message: KafkaMessage): ReadRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = String(Array.isArray(value) ? value[0] : value);
  }
  return { partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? null, headers };
}
