import { Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { EventPublisher, KafkaConnection, ORDER_EVENTS, ensureTopics, orderEventsTopic } from '@app/messaging';
import { APP_CONFIG, Metrics, type AppConfig } from '@app/platform';
import { Counter, Gauge, Histogram } from 'prom-client';

import { EventStore } from './event-store.js';
import { IdempotencyKeyPurger } from './idempotency-key-purger.js';
import { IdempotencyKeys } from './idempotency-keys.js';
import { readCaptureSlot } from './capture-slot.js';
import { readOutboxBacklog, type OutboxTableBacklog } from './outbox-backlog.js';
import { OutboxRelay } from './outbox-relay.js';

/**
 * Runs the outbox relay for the life of the process when OUTBOX_RELAY_ENABLED (the default). With
 * OUTBOX_RELAY=debezium, Debezium's connector publishes instead: appends go to `outbox_capture`, and
 * the process starts only once the connector's replication slot exists.
 */
@Injectable()
export class OutboxRelayService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly relay: OutboxRelay;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(KafkaConnection) kafka: KafkaConnection,
    @Inject(Metrics) metrics: Metrics,
    @Inject(EventStore) private readonly store: EventStore,
  ) {
    const topic = orderEventsTopic(config);
    // With Debezium publishing, this relay never runs: its metrics would read 0 and page for no leader.
    const registers = config.relay.mode === 'in-process' ? [metrics.registry] : [];
    const published = new Counter({
      name: 'outbox_events_published_total',
      help: 'Events the relay published to Kafka',
      registers,
    });
    const refused = new Gauge({
      name: 'outbox_events_refused',
      help: 'Outbox events the relay refuses to publish because they break the event contract (a bug): each holds back the later events of its order until its row is fixed',
      registers,
    });
    const leading = new Gauge({
      name: 'outbox_relay_leader',
      help: "1 while this process's relay holds the leader lock",
      registers,
    });
    this.relay = new OutboxRelay(new EventPublisher(kafka, topic), {
      databaseUrl: config.databaseUrl,
      pollIntervalMs: config.relay.pollIntervalMs,
      batchSize: config.relay.batchSize,
      lingerMs: config.relay.lingerMs,
      leaseMs: config.relay.leaseMs,
      contract: ORDER_EVENTS,
      topic: topic.name,
      refused: (count) => {
        refused.set(count);
      },
      prepare: () => ensureTopics(kafka, [topic]),
      published: (count) => {
        published.inc(count);
      },
      leadership: (leader) => {
        leading.set(leader ? 1 : 0);
      },
    });
    if (config.relay.mode === 'debezium') registerCaptureGauges(metrics, dataSource, config.relay.captureSlot);
    else registerBacklogGauges(metrics, dataSource);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.relay.mode === 'debezium') {
      await this.requireCaptureSlot();
      this.store.useRelay('debezium');
      return;
    }
    if (!this.config.relay.enabled) return;
    this.store.useLocalRelay(this.relay);
    this.relay.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }

  /**
   * A command committed before the slot exists is in no slot's log, so no connector would ever
   * publish it: without the slot, the command API does not start (register the connector first).
   */
  private async requireCaptureSlot(): Promise<void> {
    const slot = this.config.relay.captureSlot;
    if (await readCaptureSlot(this.dataSource.manager, slot)) return;
    throw new Error(
      `OUTBOX_RELAY=debezium, but this database has no replication slot "${slot}" (OUTBOX_CAPTURE_SLOT): ` +
        'register the capture connector first (npm run connect:start, README "Debezium as the relay"); events committed ' +
        'before the slot exists would never be published',
    );
  }
}

/**
 * How many placements each shared transaction of the group commit held, by how it ended
 * (docs/adr/0015-group-commit-of-new-orders.md): its sizes show how much sharing the load brings,
 * `rolled back` ones cost a rerun of each command alone, `unknown` ones a failed answer per command.
 */
@Injectable()
export class SharedTransactionMetrics {
  constructor(@Inject(Metrics) metrics: Metrics, @Inject(EventStore) store: EventStore) {
    const commands = new Histogram({
      name: 'event_store_shared_transaction_commands',
      help: 'Commands per shared transaction of the group commit, by how it ended (committed, rolled back, unknown)',
      labelNames: ['outcome'],
      buckets: [2, 4, 8, 16, 32, 64, 128, 256, 1000],
      registers: [metrics.registry],
    });
    store.observeSharedTransactions((count, outcome) => {
      commands.observe({ outcome }, count);
    });
  }
}

/** Unpublished events and the age of the oldest, read from the outbox when scraped. */
function registerBacklogGauges(metrics: Metrics, dataSource: DataSource): void {
  // Both gauges are collected in the same scrape: they share one query in flight.
  let inFlight: Promise<OutboxTableBacklog> | undefined;
  const backlog = (): Promise<OutboxTableBacklog> =>
    (inFlight ??= readOutboxBacklog(dataSource).finally(() => {
      inFlight = undefined;
    }));
  new Gauge({
    name: 'outbox_backlog_events',
    help: 'Committed events not yet published to Kafka',
    registers: [metrics.registry],
    async collect() {
      this.set((await backlog()).backlogEvents);
    },
  });
  new Gauge({
    name: 'outbox_oldest_event_age_seconds',
    help: 'Age of the oldest committed event not yet published (0 when none)',
    registers: [metrics.registry],
    async collect() {
      this.set((await backlog()).oldestEventAgeSeconds);
    },
  });
}

/** The capture slot's lag, read when scraped: what Debezium has not yet confirmed, in bytes of log. */
function registerCaptureGauges(metrics: Metrics, dataSource: DataSource, slotName: string): void {
  new Gauge({
    name: 'outbox_capture_slot_lag_bytes',
    help: "Write-ahead log the capture connector's replication slot holds and has not confirmed (-1 when the slot is missing)",
    registers: [metrics.registry],
    async collect() {
      this.set((await readCaptureSlot(dataSource.manager, slotName))?.lagBytes ?? -1);
    },
  });
  new Gauge({
    name: 'outbox_capture_slot_active',
    help: '1 while a connector reads the capture slot',
    registers: [metrics.registry],
    async collect() {
      this.set((await readCaptureSlot(dataSource.manager, slotName))?.active ? 1 : 0);
    },
  });
}

@Module({
  providers: [
    EventStore,
    OutboxRelayService,
    SharedTransactionMetrics,
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
