import { Logger } from '@nestjs/common';
import kafkajs, { type Admin, type Consumer, type Kafka, type PartitionAssigner, type Producer } from 'kafkajs';

import type { AppConfig } from '@app/platform';

import { ignoreKafkaClient, type KafkaClientObserver } from './kafka-client-observer.js';
import { weakerTopicSettings, type ActualTopicSettings } from './topic-settings.js';
import { clusterDurability, type Durability, type TopicSpec } from './topics.js';

const { AssignerProtocol, Kafka: KafkaClient, Partitioners, logLevel } = kafkajs;

/** How a consumer fetches: `live` for low latency, `bulk` for replays that read the whole log. */
export interface ConsumerTuning {
  readonly fetch?: 'live' | 'bulk';
  /** Read only these partitions of the topic, whatever the group's size (a single-order replay). */
  readonly partitions?: { readonly topic: string; readonly partitions: readonly number[] };
}

/**
 * The only place that constructs kafkajs clients. Keeping kafkajs behind this folder means a move to
 * another client touches `libs/messaging` alone (the layer rules enforce it).
 */
export class KafkaConnection {
  private readonly kafka: Kafka;

  /**
   * `observer` hears every request of the producers and consumers made here, and what they produce
   * and consume (the apps pass their Prometheus metrics; tools and tests need not).
   */
  constructor(
    private readonly config: AppConfig['kafka'],
    readonly observer: KafkaClientObserver = ignoreKafkaClient,
  ) {
    const logger = new Logger('kafkajs');
    this.kafka = new KafkaClient({
      clientId: config.clientId,
      brokers: [...config.brokers],
      connectionTimeout: 3_000,
      // Short: every caller has its own recovery (the relay's backoff, the consumer's restart), and a
      // long retry inside kafkajs only delays shutdown while the broker is away.
      retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 1_000 },
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ namespace, level, log }) => {
          const { message, ...extra } = log;
          const line = `${namespace} ${message} ${JSON.stringify(extra)}`;
          if (level <= logLevel.ERROR) logger.error(line);
          else logger.warn(line);
        },
    });
  }

  admin(): Admin {
    return this.kafka.admin();
  }

  /**
   * Idempotent producer, with one request in flight (kafkajs' idempotence is only safe so). The
   * partitioner is the Java client's murmur2, named explicitly: which partition an order id maps to
   * is part of the contract (other clients, and single-order replays, compute it too).
   */
  producer(): Producer {
    const producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    producer.on(producer.events.REQUEST, ({ payload }) => {
      this.observeRequest('producer', payload);
    });
    return producer;
  }

  /**
   * A fetch returns as soon as records arrive, so its maximum wait only bounds idle polls, and how long
   * `disconnect()` waits for the fetch in flight: short, so members leave quickly.
   */
  consumer(groupId: string, tuning: ConsumerTuning = {}): Consumer {
    const consumer = this.kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: Math.floor(this.config.sessionTimeoutMs / 5),
      maxWaitTimeInMs: 500,
      // Bulk: a few MB per partition and fetch, so a replay applies thousands of events per transaction.
      ...(tuning.fetch === 'bulk' ? { maxBytesPerPartition: 2 * 1024 * 1024, maxBytes: 6 * 1024 * 1024 } : {}),
      ...(tuning.partitions
        ? { partitionAssigners: [fixedPartitionsAssigner(tuning.partitions.topic, tuning.partitions.partitions)] }
        : {}),
    });
    consumer.on(consumer.events.REQUEST, ({ payload }) => {
      this.observeRequest('consumer', payload);
    });
    return consumer;
  }

  private observeRequest(
    client: 'producer' | 'consumer',
    payload: { apiName: string; broker: string; duration: number },
  ): void {
    this.observer.request({ client, api: payload.apiName, broker: payload.broker, seconds: payload.duration / 1_000 });
  }

  /**
   * The partition the producer sends `key` to, and the topic's partition count: the same murmur2
   * partitioner over the topic's current metadata.
   */
  async partitionOf(topic: string, key: string): Promise<{ partition: number; partitions: number }> {
    const admin = this.admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitionMetadata = topics[0]?.partitions ?? [];
      const partition = Partitioners.DefaultPartitioner()({ topic, partitionMetadata, message: { key, value: null } });
      return { partition, partitions: partitionMetadata.length };
    } finally {
      await admin.disconnect();
    }
  }

  /** Deletes consumer groups that are no longer used (a finished replay's), ignoring ones already gone. */
  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    const admin = this.admin();
    await admin.connect();
    try {
      await admin.deleteGroups([...groupIds]);
    } catch (error) {
      new Logger('kafkajs').warn(`could not delete consumer groups ${groupIds.join(', ')}: ${String(error)}`);
    } finally {
      await admin.disconnect();
    }
  }
}

/**
 * Assigns the given partitions to the group's first member and nothing to the others: kafkajs has no
 * manual assignment, and a single-order replay must read one partition, not the topic.
 */
function fixedPartitionsAssigner(topic: string, partitions: readonly number[]): PartitionAssigner {
  const name = 'FixedPartitions';
  const version = 1;
  return () => ({
    name,
    version,
    assign: ({ members }) => {
      const [first, ...others] = [...members].sort((a, b) => a.memberId.localeCompare(b.memberId));
      const encode = (assigned: readonly number[]): Buffer =>
        AssignerProtocol.MemberAssignment.encode({
          version,
          assignment: { [topic]: [...assigned] },
          userData: Buffer.alloc(0),
        });
      const assignments = others.map((member) => ({ memberId: member.memberId, memberAssignment: encode([]) }));
      return Promise.resolve(
        first ? [{ memberId: first.memberId, memberAssignment: encode(partitions) }, ...assignments] : [],
      );
    },
    protocol: ({ topics }) => ({
      name,
      metadata: AssignerProtocol.MemberMetadata.encode({ version, topics, userData: Buffer.alloc(0) }),
    }),
  });
}

/** How long ensureTopics waits for a topic's partitions to be served before it gives up. */
const TOPIC_READY_TIMEOUT_MS = 30_000;

/**
 * Creates the topics that do not exist yet, replicated as the cluster it finds allows
 * (clusterDurability), then waits until every partition of each is served. A topic just created is
 * not usable at once: for a moment its partitions have no leader in the metadata, or a leader that
 * does not host them yet, and a producer or an offset request fails with "This server does not host
 * this topic-partition". An existing topic is left as it is; settings weaker than configured are
 * logged, each named, and kept for the health check (`topicWarnings`): never changed silently.
 */
export async function ensureTopics(connection: KafkaConnection, topics: readonly TopicSpec[]): Promise<void> {
  const admin = connection.admin();
  await admin.connect();
  try {
    const brokers = (await admin.describeCluster()).brokers.length;
    const planned = topics.map((topic) => ({ topic, durability: clusterDurability(brokers, topic) }));
    const existing = new Set(await admin.listTopics());
    const missing = planned.filter(({ topic }) => !existing.has(topic.name));
    if (missing.length > 0) await createTopics(admin, missing);
    for (const { topic } of planned)
      await waitUntilServed(admin, topic.name, existing.has(topic.name) ? 1 : topic.partitions);
    for (const { topic, durability } of planned.filter(({ topic }) => existing.has(topic.name))) {
      const actual = { ...(await actualSettings(admin, topic)), brokers };
      reportTopic(topic.name, weakerTopicSettings(topic, durability, actual));
    }
  } finally {
    await admin.disconnect();
  }
}

/** What ensureTopics found weaker than configured, per topic: the Kafka health check reports it as degraded. */
export const topicWarnings = new Map<string, readonly string[]>();

const topicLogger = new Logger('Topics');

function reportTopic(topic: string, weaker: readonly string[]): void {
  if (weaker.length === 0) {
    topicWarnings.delete(topic);
    return;
  }
  topicWarnings.set(topic, weaker);
  for (const setting of weaker) topicLogger.warn(`topic ${topic}: ${setting} (left as it is: change it deliberately)`);
}

async function actualSettings(admin: Admin, topic: TopicSpec): Promise<Omit<ActualTopicSettings, 'brokers'>> {
  const [metadata, described] = await Promise.all([
    admin.fetchTopicMetadata({ topics: [topic.name] }),
    admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: topic.name,
          configNames: [...Object.keys(topic.config), 'min.insync.replicas'],
        },
      ],
    }),
  ]);
  const partitions = metadata.topics[0]?.partitions ?? [];
  return {
    partitions: partitions.length,
    replicationFactor: Math.min(...partitions.map((partition) => partition.replicas.length)),
    config: Object.fromEntries(
      (described.resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
    ),
  };
}

async function createTopics(
  admin: Admin,
  topics: readonly { topic: TopicSpec; durability: Durability }[],
): Promise<void> {
  try {
    await admin.createTopics({
      // kafkajs's own wait retries only "leader not available" and gives up on the "does not host
      // this topic-partition" a just-created topic also answers: waitUntilServed does the waiting.
      waitForLeaders: false,
      topics: topics.map(({ topic, durability: { replicationFactor, minInsyncReplicas } }) => {
        const config = { ...topic.config, 'min.insync.replicas': String(minInsyncReplicas) };
        return {
          topic: topic.name,
          numPartitions: topic.partitions,
          replicationFactor,
          configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
        };
      }),
    });
  } catch (error) {
    // A concurrent process may have created it between listTopics and createTopics.
    if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
  }
}

/**
 * Until the metadata (what a producer reads) names a leader for each of at least `partitions`
 * partitions, and each leader answers for its partition (a log-end offset request): bounded.
 */
async function waitUntilServed(admin: Admin, topic: string, partitions: number): Promise<void> {
  const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
  for (;;) {
    let problem: string;
    try {
      const metadata = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions ?? [];
      const leaderless = metadata.filter((partition) => partition.leader < 0 || partition.partitionErrorCode !== 0);
      if (metadata.length >= partitions && leaderless.length === 0) {
        await admin.fetchTopicOffsets(topic);
        return;
      }
      problem = `${String(metadata.length)} of ${String(partitions)} partitions in the metadata, ${String(leaderless.length)} without a leader`;
    } catch (error) {
      problem = String(error);
    }
    if (Date.now() > deadline)
      throw new Error(`topic ${topic} is not served after ${String(TOPIC_READY_TIMEOUT_MS / 1_000)} s: ${problem}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Log-end offsets (the next offset to be written) and log-start offsets per partition, over one long-lived admin connection. */
export class TopicOffsets {
  private admin: Admin | undefined;

  constructor(private readonly connection: KafkaConnection) {}

  async logEnd(topic: string): Promise<Map<number, string>> {
    return new Map((await this.fetch(topic)).map(({ partition, high }) => [partition, high]));
  }

  /** The first offset still in the log per partition: records below it were deleted (delete-records, retention). */
  async logStart(topic: string): Promise<Map<number, string>> {
    return new Map((await this.fetch(topic)).map(({ partition, low }) => [partition, low]));
  }

  private async fetch(topic: string): Promise<{ partition: number; low: string; high: string }[]> {
    this.admin ??= this.connection.admin();
    try {
      await this.admin.connect();
      return await this.admin.fetchTopicOffsets(topic);
    } catch (error) {
      const admin = this.admin;
      this.admin = undefined;
      await admin.disconnect().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.admin?.disconnect();
    this.admin = undefined;
  }

  /** Nest calls this when a module provides one. */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}
