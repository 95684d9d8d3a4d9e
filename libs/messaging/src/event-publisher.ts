import type { Producer } from 'kafkajs';

import { MAX_RECORD_BYTES, RecordTooLarge, recordSize, type OutgoingRecord } from './envelope.js';
import type { KafkaConnection } from './kafka-connection.js';
import type { TopicSpec } from './topics.js';

/**
 * Publishes records to one topic, in the given order, acknowledged by all in-sync replicas: at least
 * the topic's `min.insync.replicas`, or the broker refuses the write and publish throws.
 */
export class EventPublisher {
  private producer: Producer | undefined;
  private connected: Promise<Producer> | undefined;

  constructor(
    private readonly connection: KafkaConnection,
    private readonly topic: TopicSpec,
  ) {}

  /**
   * Publishes in order, in as few produce requests as the broker's size limit allows (it applies to a
   * whole record batch, not one record); resolves once the broker has acknowledged every record.
   * Throws RecordTooLarge, producing nothing, if any single record is over the limit.
   *
   * After a failed send the producer is replaced. kafkajs' idempotent producer keeps its sequence
   * numbers across a failure; once the broker has moved past them (a broker restart during a send),
   * every later send fails with OUT_OF_ORDER_SEQUENCE_NUMBER until the producer is recreated
   * (tulios/kafkajs#598). A new producer gets a new producer id and starts again at sequence 0; the
   * caller sends the batch again, which is the at-least-once delivery consumers already expect.
   */
  async publish(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    const chunks = chunkBySize(records);
    const producer = await this.connect();
    try {
      for (const { records: chunk, bytes } of chunks) {
        await producer.send({
          topic: this.topic.name,
          // acks=all: durable only together with the topic's min.insync.replicas (see topics.ts).
          acks: -1,
          messages: chunk.map(({ key, value, headers }) => ({ key, value, headers })),
        });
        this.connection.observer.produced(this.topic.name, chunk.length, bytes);
      }
    } catch (error) {
      await this.discard(producer);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.producer) await this.discard(this.producer);
  }

  private connect(): Promise<Producer> {
    if (!this.connected) {
      const producer = this.connection.producer();
      this.producer = producer;
      this.connected = producer.connect().then(
        () => producer,
        async (error: unknown) => {
          await this.discard(producer);
          throw error;
        },
      );
    }
    return this.connected;
  }

  /** Forgets `producer` (if it is still the current one) and disconnects it; the next publish makes a new one. */
  private async discard(producer: Producer): Promise<void> {
    if (this.producer === producer) {
      this.producer = undefined;
      this.connected = undefined;
    }
    await producer.disconnect().catch(() => undefined);
  }
}

/** Runs of records that each fit one produce request, with their size as `recordSize` estimates it. */
function chunkBySize(records: readonly OutgoingRecord[]): { records: OutgoingRecord[]; bytes: number }[] {
  const chunks: { records: OutgoingRecord[]; bytes: number }[] = [];
  let current: OutgoingRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = recordSize(record);
    if (size > MAX_RECORD_BYTES) throw new RecordTooLarge(size);
    if (current.length > 0 && bytes + size > MAX_RECORD_BYTES) {
      chunks.push({ records: current, bytes });
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  chunks.push({ records: current, bytes });
  return chunks;
}
