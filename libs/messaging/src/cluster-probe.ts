import kafkajs, { type Admin } from 'kafkajs';

import type { KafkaConnection } from './kafka-connection.js';
import { describeLogDirs, type ReplicaLogSize } from './log-dirs.js';

/** One partition as the controller's metadata and the leader's offsets describe it. */
export interface PartitionHealth {
  readonly partition: number;
  /** The broker id leading the partition; -1 when none does (the partition is offline). */
  readonly leader: number;
  readonly replicas: number;
  readonly inSyncReplicas: number;
  /** Replicas on brokers that are down or on a failed log directory. */
  readonly offlineReplicas: number;
  /** The offset the next record will get: records ever written to the partition. */
  readonly highWatermark: string;
  /** The first offset still held: below it, records were deleted (retention, delete-records). */
  readonly logStartOffset: string;
}

export interface TopicHealth {
  readonly topic: string;
  /** The topic's `min.insync.replicas`, its own or the broker default; undefined if the broker did not say. */
  readonly minInsyncReplicas: number | undefined;
  readonly partitions: readonly PartitionHealth[];
}

export interface ClusterHealth {
  readonly brokers: number;
  readonly topics: readonly TopicHealth[];
  /** Every replica's log size, per broker that answered. */
  readonly logSizes: readonly (ReplicaLogSize & { readonly broker: number })[];
  /** Brokers whose log sizes could not be read this time (the rest of the picture still holds). */
  readonly logSizeErrors: readonly { readonly broker: number; readonly error: string }[];
}

/** How long one broker has to answer DescribeLogDirs before its sizes are left out of a probe. */
const LOG_DIRS_TIMEOUT_MS = 5_000;

/**
 * What operators watch about the cluster, for a fixed set of topics, at a bounded cost per probe: one
 * metadata request, one offsets request per topic, one configuration request, and one DescribeLogDirs
 * request per broker, over one long-lived admin connection. A probe that fails throws; the next one
 * starts on a fresh connection.
 */
export class ClusterProbe {
  private admin: Admin | undefined;

  constructor(
    private readonly connection: KafkaConnection,
    private readonly clientId: string,
  ) {}

  async probe(topics: readonly string[]): Promise<ClusterHealth> {
    this.admin ??= this.connection.admin();
    const admin = this.admin;
    try {
      await admin.connect();
      const [cluster, metadata, configs, offsets] = await Promise.all([
        admin.describeCluster(),
        admin.fetchTopicMetadata({ topics: [...topics] }),
        minInsyncReplicas(admin, topics),
        Promise.all(topics.map(async (topic) => [topic, await admin.fetchTopicOffsets(topic)] as const)),
      ]);
      const offsetsOf = new Map(offsets);
      const health = metadata.topics.map((topic): TopicHealth => {
        const ends = new Map((offsetsOf.get(topic.name) ?? []).map((offset) => [offset.partition, offset]));
        return {
          topic: topic.name,
          minInsyncReplicas: configs.get(topic.name),
          partitions: topic.partitions.map((partition) => ({
            partition: partition.partitionId,
            leader: partition.leader,
            replicas: partition.replicas.length,
            inSyncReplicas: partition.isr.length,
            offlineReplicas: partition.offlineReplicas?.length ?? 0,
            highWatermark: ends.get(partition.partitionId)?.high ?? '0',
            logStartOffset: ends.get(partition.partitionId)?.low ?? '0',
          })),
        };
      });
      const wanted = health.map(({ topic, partitions }) => ({
        topic,
        partitions: partitions.map(({ partition }) => partition),
      }));
      const answers = await Promise.allSettled(
        cluster.brokers.map((broker) => describeLogDirs(broker, this.clientId, wanted, LOG_DIRS_TIMEOUT_MS)),
      );
      return {
        brokers: cluster.brokers.length,
        topics: health,
        logSizes: answers.flatMap((answer, index) =>
          answer.status === 'fulfilled'
            ? answer.value.map((size) => ({ ...size, broker: cluster.brokers[index]?.nodeId ?? -1 }))
            : [],
        ),
        logSizeErrors: answers.flatMap((answer, index) =>
          answer.status === 'rejected'
            ? [{ broker: cluster.brokers[index]?.nodeId ?? -1, error: String(answer.reason) }]
            : [],
        ),
      };
    } catch (error) {
      this.admin = undefined;
      await admin.disconnect().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.admin?.disconnect();
    this.admin = undefined;
  }
}

async function minInsyncReplicas(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({
      type: kafkajs.ConfigResourceTypes.TOPIC,
      name,
      configNames: ['min.insync.replicas'],
    })),
  });
  const found = new Map<string, number>();
  for (const resource of resources) {
    const value = Number(resource.configEntries[0]?.configValue);
    if (Number.isInteger(value)) found.set(resource.resourceName, value);
  }
  return found;
}
