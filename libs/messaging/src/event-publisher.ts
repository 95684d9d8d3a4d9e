import type { Producer } from 'kafkajs';

import type { OutgoingRecord } from './envelope.js';
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

  /** One produce request for the whole batch; resolves once the broker has acknowledged every record. */
  async publish(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.connect();
    await this.producer.send({
      topic: this.topic.name,
      acks: -1,
      messages: records.map(({ key, value, headers }) => ({ key, value, headers })),
    });
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
