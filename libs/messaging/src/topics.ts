import type { AppConfig } from '@app/platform';

/**
 * The one registry of topics: name, key, value format and settings. Everything that produces,
 * consumes or creates a topic takes its spec from here.
 */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** What the record key is; it decides the partition, hence what stays in order. */
  readonly key: string;
  readonly value: string;
  readonly config: Readonly<Record<string, string>>;
}

export function orderEventsTopic(config: AppConfig): TopicSpec {
  return {
    name: config.kafka.ordersTopic,
    partitions: config.kafka.ordersTopicPartitions,
    key: 'order id (UTF-8): every event of one order lands in one partition, in version order',
    value: 'EventEnvelope as JSON (see envelope.ts)',
    // The log is the replay source and the audit trail: keep everything, never compact.
    config: { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' },
  };
}
