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
import { APP_CONFIG, Metrics, PipelinedSql, type AppConfig } from '@app/platform';
import { ProjectionRunner, type Projection } from '@app/projections';

import { ProjectionMetrics } from './projection-metrics.js';
import { RebuildScheduler } from './rebuild-scheduler.js';

export const PROJECTIONS = Symbol('PROJECTIONS');

/**
 * A Nest microservice transport that runs each projection as its own consumer group over
 * `eachBatch`. It replaces the stock Kafka transport, which handles one message at a time, renames
 * groups, and commits offsets of events no handler took.
 */
@Injectable()
export class ProjectionsTransport extends Server implements CustomTransportStrategy {
  private consumers: BatchConsumer[] = [];
  private rebuilds: RebuildScheduler | undefined;
  private readonly deadLetters: EventPublisher;
  private readonly offsets: TopicOffsets;
  /** The live projections' batch transactions, a few round trips each (see PipelinedSql). */
  private readonly sql: PipelinedSql;

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
    this.sql = new PipelinedSql(config.readDatabaseUrl, {
      max: Math.min(8, projections.length * config.projections.concurrentPartitions),
      applicationName: 'projection-worker',
      // Read models are derived from the log: rows and offsets lost to a crash are applied again.
      synchronousCommit: false,
    });
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
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
          },
          new ProjectionRunner(this.dataSource, projection, {
            deadLetters: this.deadLetters,
            observer,
            sql: this.sql,
            traced: true,
          }),
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
      callback();
    } catch (error) {
      callback(error);
    }
  }

  async close(): Promise<void> {
    await this.rebuilds?.stop();
    this.rebuilds = undefined;
    const consumers = this.consumers;
    this.consumers = [];
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await Promise.all([this.deadLetters.close(), this.offsets.close(), this.sql.close()]);
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
