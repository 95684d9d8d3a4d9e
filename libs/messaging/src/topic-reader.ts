import type { Consumer, KafkaMessage } from 'kafkajs';

import type { KafkaConnection } from './kafka-connection.js';

/** A record as read back from a topic, its key, value and headers as text. */
export interface ReadRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface TopicReadSummary {
  /** Records a read_committed consumer was given. */
  readonly records: number;
  /** Each partition's log end when the read began: the offset the next record would get. */
  readonly logEnd: ReadonlyMap<number, number>;
  /**
   * Offsets between each partition's log start and log end that held no record the consumer was
   * given: transaction markers, and records of aborted transactions.
   */
  readonly skipped: number;
}

export interface TopicReadOptions {
  /** Gives up when no partition moved for this long (an open transaction holds a read_committed consumer back). */
  readonly idleTimeoutMs?: number;
  /** Prefix of the throwaway consumer group's id. */
  readonly groupPrefix?: string;
}

/**
 * Streams a whole topic to `onBatch`, partition batch by partition batch, each in offset order, up to
 * the log end taken when the read began: memory holds one batch, whatever the topic's size, and the
 * next batch waits for `onBatch`. The consumer's position counts what it passes over without handing
 * it out: transaction markers and aborted records inside a batch move `batch.lastOffset()`, and a
 * fetch of nothing else never reaches eachBatch, only kafkajs' START_BATCH_PROCESS event (with
 * batchSize 0). So a log that ends with a marker is read to its end, where "until the last record"
 * would wait forever. Records written after the read began may be handed out too.
 */
export async function streamTopicToEnd(
  kafka: KafkaConnection,
  topic: string,
  onBatch: (records: readonly ReadRecord[]) => Promise<void>,
  { idleTimeoutMs = 20_000, groupPrefix = 'topic-reader' }: TopicReadOptions = {},
): Promise<TopicReadSummary> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const logStart = new Map(offsets.map(({ partition, low }) => [partition, Number(low)]));
  const logEnd = new Map(offsets.map(({ partition, high }) => [partition, Number(high)]));
  const position = new Map(logStart);
  let movedAt = Date.now();
  const advance = (partition: number, lastOffset: string): void => {
    position.set(partition, Math.max(position.get(partition) ?? 0, Number(lastOffset) + 1));
    movedAt = Date.now();
  };
  const behind = (): [number, number][] =>
    [...logEnd].filter(([partition, end]) => (position.get(partition) ?? 0) < end);
  let records = 0;
  let busy = false;
  let failure: Error | undefined;
  await withThrowawayConsumer(kafka, topic, groupPrefix, async (consumer) => {
    consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
      if (payload.batchSize === 0) advance(payload.partition, payload.lastOffset);
    });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        if (failure !== undefined) return;
        const read = batch.messages.map((message) => toReadRecord(batch.partition, message));
        busy = true;
        try {
          await onBatch(read);
        } catch (error) {
          failure = error instanceof Error ? error : new Error(String(error));
          return;
        } finally {
          busy = false;
          movedAt = Date.now();
        }
        records += read.length;
        advance(batch.partition, batch.lastOffset());
      },
    });
    while (failure === undefined && behind().length > 0) {
      // A slow onBatch is work, not idleness: only time without a batch in hand counts.
      if (!busy && Date.now() - movedAt > idleTimeoutMs) {
        const report = behind().map(
          ([partition, end]) =>
            `partition ${String(partition)} at ${String(position.get(partition))} of ${String(end)}`,
        );
        throw new Error(
          `reading ${topic} to its log end: no progress for ${String(idleTimeoutMs)} ms (${report.join(', ')})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  if (failure !== undefined) throw failure;
  const span = [...logEnd].reduce((sum, [partition, end]) => sum + end - (logStart.get(partition) ?? 0), 0);
  return { records, logEnd, skipped: Math.max(0, span - records) };
}

/** Each partition's log end: the offset the next record would get. */
export async function topicLogEnds(kafka: KafkaConnection, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Whether the topic exists (a dead-letter topic is created only when something is first dead-lettered). */
export async function topicExists(kafka: KafkaConnection, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
}

/** A consumer in a group of its own, reading `topic` from the beginning; the group is deleted after. */
export async function withThrowawayConsumer<T>(
  kafka: KafkaConnection,
  topic: string,
  groupPrefix: string,
  read: (consumer: Consumer) => Promise<T>,
): Promise<T> {
  const groupId = `${groupPrefix}-${topic}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
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

export function toReadRecord(partition: number, message: KafkaMessage): ReadRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = String(Array.isArray(value) ? value[0] : value);
  }
  return {
    partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    value: message.value?.toString('utf8') ?? null,
    headers,
  };
}
