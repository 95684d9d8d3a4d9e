import { Inject, Injectable } from '@nestjs/common';
import { Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { DataSource } from 'typeorm';

import {
  BatchConsumer,
  EventPublisher,
  KafkaConnection,
  TopicOffsets,
  deadLetterTopic,
  ensureTopics,
  orderEventsTopic,
} from '@app/messaging';
import { APP_CONFIG, KEY_LOOKUP_PLANS, Metrics, PipelinedSql, type AppConfig } from '@app/platform';
import { PartitionGroups, ProjectionRunner, type Projection } from '@app/projections';

import { ProjectionMetrics } from './projection-metrics.js';
import { RebuildScheduler } from './rebuild-scheduler.js';
import { TableStatistics } from './table-statistics.js';

export const PROJECTIONS = Symbol('PROJECTIONS');

/**
 * A live projection's pipelined connections: its groups' transactions run one at a time
 * (PartitionGroups), and a new assignment's read of stored offsets may run beside one.
 */
const CONNECTIONS_PER_PROJECTION = 2;

/**
 * A Nest microservice transport that runs each projection as its own consumer group over
 * `eachBatch`. It replaces the stock Kafka transport, which handles one message at a time, renames
 * groups, and commits offsets of events no handler took.
 */
@Injectable()
export class ProjectionsTransport extends Server implements CustomTransportStrategy {
  private consumers: BatchConsumer[] = [];
  private rebuilds: RebuildScheduler | undefined;
  private statistics: TableStatistics | undefined;
  private readonly deadLetters: EventPublisher;
  private readonly offsets: TopicOffsets;
  /**
   * The live projections' batch transactions, a few round trips each (see PipelinedSql): a pool per
   * projection, so that a connection always runs its statements over the same generation's tables.
   * Postgres plans a prepared statement again whenever it runs under another `search_path`; on
   * connections the projections shared, that was most calls of the runner's statements.
   */
  private readonly pools = new Map<string, PipelinedSql>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KafkaConnection) private readonly kafka: KafkaConnection,
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(PROJECTIONS) private readonly projections: readonly Projection[],
  ) {
    super();
    this.deadLetters = new EventPublisher(kafka, deadLetterTopic(config));
    this.offsets = new TopicOffsets(kafka);
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      this.openPools();
      const topic = orderEventsTopic(this.config);
      await ensureTopics(this.kafka, [topic, deadLetterTopic(this.config)]);
      const observer = new ProjectionMetrics(this.metrics, this.dataSource, this.offsets, topic.name, this.projections);
      for (const projection of this.projections) {
        const consumer = new BatchConsumer(
          this.kafka,
          {
            groupId: `${this.config.kafka.groupPrefix}projection.${projection.name}`,
            topic: topic.name,
            concurrentPartitions: this.config.projections.concurrentPartitions,
            lingerMs: projection.readersWait
              ? this.config.projections.fetchLingerMs
              : this.config.projections.backgroundLingerMs,
          },
          // The batches of a fetch's partitions in one transaction (a group commit).
          new PartitionGroups(
            new ProjectionRunner(this.dataSource, projection, {
              deadLetters: this.deadLetters,
              observer,
              sql: this.pools.get(projection.name),
              traced: true,
            }),
          ),
        );
        this.consumers.push(consumer);
        await consumer.start();
      }
      const context = {
        dataSource: this.dataSource,
        kafka: this.kafka,
        topic: topic.name,
        groupPrefix: this.config.kafka.groupPrefix,
      };
      this.rebuilds = new RebuildScheduler(context, this.projections);
      await this.rebuilds.start();
      this.statistics = new TableStatistics(this.dataSource, this.projections);
      this.statistics.start();
      callback();
    } catch (error) {
      callback(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.rebuilds?.stop(), this.statistics?.stop()]);
    this.rebuilds = undefined;
    this.statistics = undefined;
    const consumers = this.consumers;
    this.consumers = [];
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([this.deadLetters.close(), this.offsets.close(), ...pools.map((pool) => pool.close())]);
  }

  private openPools(): void {
    for (const projection of this.projections) {
      this.pools.set(
        projection.name,
        new PipelinedSql(this.config.readDatabaseUrl, {
          max: CONNECTIONS_PER_PROJECTION,
          // pg_stat_activity names the projection a backend works for.
          applicationName: `projection-worker:${projection.name}`,
          // Read models are derived from the log: rows and offsets lost to a crash are applied again
          // (a later batch rewinds to the stored offset; BatchConsumer checks idle partitions).
          synchronousCommit: false,
          // A plan per statement and connection (one search_path each), not one per call: the batch's
          // key lookups were planned on most calls, at twice the cost of running them. Made again as
          // the tables grow, and the tables analyzed once they hold rows (TableStatistics).
          ...KEY_LOOKUP_PLANS,
        }),
      );
    }
  }

  on(): never {
    throw new Error('ProjectionsTransport has no events to subscribe to');
  }

  // The signature is Server's.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  unwrap<T>(): T {
    return this.consumers as T;
  }
}
