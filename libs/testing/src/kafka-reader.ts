import {
  streamTopicToEnd,
  toReadRecord,
  withThrowawayConsumer,
  type KafkaConnection,
  type ReadRecord,
} from '@app/messaging';

import { eventually } from './eventually.js';

export type { ReadRecord } from '@app/messaging';

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
  return withThrowawayConsumer(kafka, topic, 'test-reader', async (consumer) => {
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        records.push(toReadRecord(partition, message));
        return Promise.resolve();
      },
    });
    await eventually(
      () => {
        if (!done(records)) throw new Error(`read ${records.length} records of ${topic}, condition not met yet`);
      },
      { timeoutMs },
    );
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
 * Reads a whole topic into memory (see streamTopicToEnd in libs/messaging, which the operators'
 * verify command uses to read in bounded memory). For a topic nothing is writing to any more: an
 * open transaction holds a read_committed consumer back from the log end, and the read then fails
 * after `timeoutMs` without progress.
 */
export async function readTopicToEnd(
  kafka: KafkaConnection,
  topic: string,
  { timeoutMs = 20_000 } = {},
): Promise<TopicToEnd> {
  const records: ReadRecord[] = [];
  const { logEnd, skipped } = await streamTopicToEnd(
    kafka,
    topic,
    (batch) => {
      records.push(...batch);
      return Promise.resolve();
    },
    { idleTimeoutMs: timeoutMs, groupPrefix: 'test-reader' },
  );
  return { records, logEnd, skipped };
}
