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
 * was read (or the timeout passes), and returns every record seen.
 */
export async function readTopic(
  kafka: KafkaConnection,
  topic: string,
  done: (records: readonly ReadRecord[]) => boolean,
  { timeoutMs = 20_000 } = {},
): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  const consumer = kafka.consumer(`test-reader-${topic}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          if (value !== undefined) headers[name] = String(Array.isArray(value) ? value[0] : value);
        }
        records.push({
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          value: message.value?.toString('utf8') ?? null,
          headers,
        });
        return Promise.resolve();
      },
    });
    await eventually(() => {
      if (!done(records)) throw new Error(`read ${records.length} records of ${topic}, condition not met yet`);
    }, { timeoutMs });
    return records;
  } finally {
    await consumer.disconnect();
  }
}
