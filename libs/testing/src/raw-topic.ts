import { withThrowawayConsumer, type KafkaConnection } from '@app/messaging';

import { eventually } from './eventually.js';

/** A record exactly as the broker holds it: bytes, every header in order (repeats and nulls kept). */
export interface RawRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly (readonly [string, Buffer | null])[];
}

/**
 * Reads a topic from the beginning until `count` records arrived, keeping their bytes: for comparing
 * two producers' records byte for byte (ReadRecord, made for assertions on content, decodes them).
 */
export async function readRawRecords(
  kafka: KafkaConnection,
  topic: string,
  count: number,
  { timeoutMs = 60_000 } = {},
): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  return withThrowawayConsumer(kafka, topic, 'test-raw-reader', async (consumer) => {
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const headers: [string, Buffer | null][] = [];
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          for (const one of Array.isArray(value) ? value : [value]) headers.push([name, one ? Buffer.from(one) : null]); // kafkajs gives Buffers; null for a null value
        }
        records.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
        return Promise.resolve();
      },
    });
    await eventually(
      () => {
        if (records.length < count) throw new Error(`read ${records.length} of ${count} records of ${topic}`);
      },
      { timeoutMs },
    );
    return records;
  });
}
