import type { Producer } from 'kafkajs';

import { MAX_RECORD_BYTES, RecordTooLarge, recordSize, type OutgoingRecord } from './envelope.js';
import type { KafkaConnection } from './kafka-connection.js';
import type { TopicSpec } from './topics.js';

/** Publishes records to one topic, in the given order, acknowledged by all in-sync replicas. */
export class EventPublisher {
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(
    connection: KafkaConnection,
    private readonly topic: TopicSpec,
  ) {
    this.producer = connection.producer();
  }

  /**
   * Publishes in order, in as few produce requests as the broker's size limit allows (it applies to a
   * whole record batch, not one record); resolves once the broker has acknowledged every record.
   * Throws RecordTooLarge, producing nothing, if any single record is over the limit.
   */
  async publish(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.connect();
    for (const chunk of chunkBySize(records)) {
      await this.producer.send({
        topic: this.topic.name,
        acks: -1,
        messages: chunk.map(({ key, value, headers }) => ({ key, value, headers })),
      });
    }
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    this.connected = undefined;
    await this.producer.disconnect();
  }

  private connect(): Promise<void> {
    this.connected ??= this.producer.connect().catch((error: unknown) => {
      this.connected = undefined;
      throw error;
    });
    return this.connected;
  }
}

function chunkBySize(records: readonly OutgoingRecord[]): OutgoingRecord[][] {
  const chunks: OutgoingRecord[][] = [];
  let current: OutgoingRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = recordSize(record);
    if (size > MAX_RECORD_BYTES) throw new RecordTooLarge(size);
    if (current.length > 0 && bytes + size > MAX_RECORD_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  chunks.push(current);
  return chunks;
}
