import type { Durability, TopicSpec } from './topics.js';

/** What the cluster says of an existing topic. */
export interface ActualTopicSettings {
  readonly brokers: number;
  readonly partitions: number;
  /** The fewest replicas any of its partitions has. */
  readonly replicationFactor: number;
  readonly config: Readonly<Record<string, string>>;
}

/**
 * Each way an existing topic is weaker than the registry configures it for this cluster, said so an
 * operator can act: fewer replicas or fewer in sync, a retention that deletes what must be kept
 * forever, compaction of a log, other partitions than configured (keys then map elsewhere). Pure.
 */
export function weakerTopicSettings(topic: TopicSpec, wanted: Durability, actual: ActualTopicSettings): string[] {
  const weaker: string[] = [];
  if (actual.replicationFactor < wanted.replicationFactor)
    weaker.push(
      `replication factor ${String(actual.replicationFactor)}, weaker than the ${String(wanted.replicationFactor)} ` +
        `configured for a cluster of ${String(actual.brokers)} brokers (a broker's loss loses acknowledged events)`,
    );
  const minInsync = Number(actual.config['min.insync.replicas'] ?? '1');
  if (minInsync < wanted.minInsyncReplicas)
    weaker.push(
      `min.insync.replicas ${String(minInsync)}, weaker than the ${String(wanted.minInsyncReplicas)} configured ` +
        '(an acknowledged write may rest on one copy)',
    );
  for (const setting of ['retention.ms', 'retention.bytes'] as const) {
    const value = actual.config[setting];
    if (topic.config[setting] === '-1' && value !== undefined && value !== '-1')
      weaker.push(
        `${setting} ${value}, weaker than -1 (kept forever): events past it are deleted from the replay source`,
      );
  }
  const policy = actual.config['cleanup.policy'];
  if (topic.config['cleanup.policy'] === 'delete' && policy?.includes('compact'))
    weaker.push(`cleanup.policy ${policy}, weaker than delete: compaction keeps only each order's last event`);
  if (actual.partitions !== topic.partitions)
    weaker.push(
      `${String(actual.partitions)} partitions, not the ${String(topic.partitions)} configured: ` +
        'keys map to other partitions than the configuration says (docs/partitioning.md)',
    );
  return weaker;
}
