import { Logger } from '@nestjs/common';
import kafkajs, { type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';

import type { AppConfig } from '@app/platform';

import type { TopicSpec } from './topics.js';

const { Kafka: KafkaClient, Partitioners, logLevel } = kafkajs;

/**
 * The only place that constructs kafkajs clients. Keeping kafkajs behind this folder means a move to
 * another client touches `libs/messaging` alone (the layer rules enforce it).
 */
export class KafkaConnection {
  private readonly kafka: Kafka;

  constructor(private readonly config: AppConfig['kafka']) {
    const logger = new Logger('kafkajs');
    this.kafka = new KafkaClient({
      clientId: config.clientId,
      brokers: [...config.brokers],
      connectionTimeout: 3_000,
      // Short: every caller has its own recovery (the relay's backoff, the consumer's restart), and a
      // long retry inside kafkajs only delays shutdown while the broker is away.
      retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 1_000 },
      logLevel: logLevel.WARN,
      logCreator: () => ({ namespace, level, log }) => {
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
    return this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  /**
   * A fetch returns as soon as records arrive, so its maximum wait only bounds idle polls, and how long
   * `disconnect()` waits for the fetch in flight: short, so members leave quickly.
   */
  consumer(groupId: string): Consumer {
    return this.kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: Math.floor(this.config.sessionTimeoutMs / 5),
      maxWaitTimeInMs: 500,
    });
  }
}

/** Creates the topics that do not exist yet. Existing topics are left as they are. */
export async function ensureTopics(connection: KafkaConnection, topics: readonly TopicSpec[]): Promise<void> {
  const admin = connection.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic.name));
    if (missing.length === 0) return;
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic: topic.name,
        numPartitions: topic.partitions,
        replicationFactor: -1, // the broker's default.replication.factor
        configEntries: Object.entries(topic.config).map(([name, value]) => ({ name, value })),
      })),
    });
  } catch (error) {
    // A concurrent process may have created it between listTopics and createTopics.
    if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
  } finally {
    await admin.disconnect();
  }
}

/** Log-end offsets (the next offset to be written) per partition, over one long-lived admin connection. */
export class TopicOffsets {
  private admin: Admin | undefined;

  constructor(private readonly connection: KafkaConnection) {}

  async logEnd(topic: string): Promise<Map<number, string>> {
    this.admin ??= this.connection.admin();
    try {
      await this.admin.connect();
      const offsets = await this.admin.fetchTopicOffsets(topic);
      return new Map(offsets.map(({ partition, high }) => [partition, high]));
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
}
