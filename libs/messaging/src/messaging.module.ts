import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Admin } from 'kafkajs';

import { APP_CONFIG, Metrics, type AppConfig, type HealthCheck } from '@app/platform';

import { KafkaClientMetrics } from './kafka-client-metrics.js';
import { KafkaConnection, topicWarnings } from './kafka-connection.js';
import { deadLetterTopic, orderEventsTopic } from './topics.js';

/** A readiness check that asks the cluster for its metadata over one long-lived admin connection. */
@Injectable()
export class KafkaHealthCheck implements HealthCheck, OnApplicationShutdown {
  readonly name = 'kafka';
  private admin: Admin | undefined;

  constructor(
    @Inject(KafkaConnection) private readonly connection: KafkaConnection,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async check(): Promise<void> {
    this.admin ??= this.connection.admin();
    try {
      await this.admin.connect();
      await this.admin.describeCluster();
    } catch (error) {
      const admin = this.admin;
      this.admin = undefined;
      await admin.disconnect().catch(() => undefined);
      throw error;
    }
  }

  /** While one of this deployment's topics is weaker than configured (ensureTopics found it so), naming how. */
  degraded(): string | undefined {
    const ours = [orderEventsTopic(this.config).name, deadLetterTopic(this.config).name];
    const weaker = ours.flatMap((topic) => (topicWarnings.get(topic) ?? []).map((setting) => `${topic}: ${setting}`));
    return weaker.length > 0 ? weaker.join('; ') : undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.admin?.disconnect();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: KafkaConnection,
      // Every app's Kafka requests, records and bytes on its /metrics (an app without metrics has none).
      inject: [APP_CONFIG, { token: Metrics, optional: true }],
      useFactory: (config: AppConfig, metrics: Metrics | undefined) =>
        new KafkaConnection(config.kafka, metrics ? new KafkaClientMetrics(metrics) : undefined),
    },
    KafkaHealthCheck,
  ],
  exports: [KafkaConnection, KafkaHealthCheck],
})
export class MessagingModule {}
