import { Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { EventPublisher, KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { APP_CONFIG, type AppConfig } from '@app/platform';

import { EventStore } from './event-store.js';
import { IdempotencyKeyPurger } from './idempotency-key-purger.js';
import { IdempotencyKeys } from './idempotency-keys.js';
import { OutboxRelay } from './outbox-relay.js';

/** Runs the outbox relay for the life of the process when OUTBOX_RELAY_ENABLED (the default). */
@Injectable()
export class OutboxRelayService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly relay: OutboxRelay;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DataSource) dataSource: DataSource,
    @Inject(KafkaConnection) kafka: KafkaConnection,
  ) {
    const topic = orderEventsTopic(config);
    this.relay = new OutboxRelay(dataSource, new EventPublisher(kafka, topic), {
      databaseUrl: config.databaseUrl,
      pollIntervalMs: config.relay.pollIntervalMs,
      batchSize: config.relay.batchSize,
      prepare: () => ensureTopics(kafka, [topic]),
    });
  }

  onApplicationBootstrap(): void {
    if (this.config.relay.enabled) this.relay.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }
}

@Module({
  providers: [
    EventStore,
    OutboxRelayService,
    {
      provide: IdempotencyKeys,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new IdempotencyKeys(config.idempotency.keyTtlSeconds),
    },
    IdempotencyKeyPurger,
  ],
  exports: [EventStore, OutboxRelayService, IdempotencyKeys, IdempotencyKeyPurger],
})
export class EventStoreModule {}
