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

/**
 * Records a projection could not apply, as they were, with their origin in `dlq-*` headers:
 * `dlq-origin-topic`, `dlq-origin-partition`, `dlq-origin-offset`, `dlq-error`, `dlq-projection`.
 */
export function deadLetterTopic(config: AppConfig): TopicSpec {
  return {
    name: `${config.kafka.ordersTopic}.dlq`,
    partitions: 1,
    key: 'the original record key',
    value: 'the original record value, unchanged (it may not be valid JSON)',
    config: { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' },
  };
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
