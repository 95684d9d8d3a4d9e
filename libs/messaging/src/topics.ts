import type { AppConfig } from '@app/platform';

/**
 * The one registry of topics: name, key, value format and settings. Everything that produces,
 * consumes or creates a topic takes its spec from here.
 *
 * Durability is two settings that only work together. The producer writes with `acks=all`
 * (EventPublisher; the relay's idempotent producer): the leader answers once every in-sync replica
 * has the record. `min.insync.replicas`, set on each topic here, is how few in-sync replicas still
 * count as "all": below it the leader refuses the write (NOT_ENOUGH_REPLICAS) instead of keeping it
 * on too few copies, and the relay retries it later. With replication 3 and 2 in sync, an
 * acknowledged event survives the loss of any one broker. On one broker, replication and
 * `min.insync.replicas` are both 1: an acknowledged event is in that broker's log (Kafka does not
 * fsync each write; it counts on replicas), which is all one broker can give. Both follow the cluster
 * ensureTopics finds (clusterDurability), unless KAFKA_MIN_INSYNC_REPLICAS says otherwise; an existing
 * topic whose settings are weaker is reported, never changed.
 */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** What the record key is; it decides the partition, hence what stays in order. */
  readonly key: string;
  readonly value: string;
  /** Topic settings besides replication; `min.insync.replicas` comes from clusterDurability. */
  readonly config: Readonly<Record<string, string>>;
  /** Configured `min.insync.replicas` (KAFKA_MIN_INSYNC_REPLICAS); unset: by the cluster's size. */
  readonly minInsyncReplicas?: number | undefined;
}

/** How many copies of a topic a cluster of `brokers` keeps, and how many must hold a write. */
export interface Durability {
  readonly replicationFactor: number;
  readonly minInsyncReplicas: number;
}

/**
 * Three copies with two in sync on three brokers or more (a write survives the loss of any one
 * broker, and one broker may be down without stopping writes); on fewer, a copy per broker with one
 * in sync. A configured `min.insync.replicas` wins, but never above the copies there are.
 */
export function clusterDurability(brokers: number, topic: Pick<TopicSpec, 'name' | 'minInsyncReplicas'>): Durability {
  const replicationFactor = Math.max(1, Math.min(3, brokers));
  const minInsyncReplicas = topic.minInsyncReplicas ?? (replicationFactor >= 3 ? 2 : 1);
  if (minInsyncReplicas > replicationFactor)
    throw new Error(
      `${topic.name}: min.insync.replicas ${String(minInsyncReplicas)} (KAFKA_MIN_INSYNC_REPLICAS) exceeds the ` +
        `${String(replicationFactor)} replica(s) a cluster of ${String(brokers)} broker(s) can hold: every write would be refused`,
    );
  return { replicationFactor, minInsyncReplicas };
}

/** The log is the replay source and the audit trail: keep everything, never compact. */
const keptForever = { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' } as const;

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
    // Operators retry and discard from these records: kept and replicated like the log.
    config: keptForever,
    minInsyncReplicas: config.kafka.minInsyncReplicas,
  };
}

export function orderEventsTopic(config: AppConfig): TopicSpec {
  return {
    name: config.kafka.ordersTopic,
    partitions: config.kafka.ordersTopicPartitions,
    key: 'order id (UTF-8): every event of one order lands in one partition, in version order',
    value: 'EventEnvelope as JSON (see envelope.ts)',
    config: keptForever,
    minInsyncReplicas: config.kafka.minInsyncReplicas,
  };
}

/**
 * The topic a Kafka Connect source connector's heartbeats go to (Debezium's capture connector:
 * `__debezium-heartbeat.<connector>`, captureHeartbeatTopic): one partition, compacted, since only
 * the latest heartbeat matters. It must exist before the connector runs: a heartbeat the producer
 * cannot send holds the task back, and with it every event behind it.
 */
export function heartbeatTopic(name: string): TopicSpec {
  return {
    name,
    partitions: 1,
    key: "the connector's source partition",
    value: 'a heartbeat: the position the connector has read up to',
    config: { 'cleanup.policy': 'compact' },
  };
}
