import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';

import { ClusterProbe, KafkaConnection, deadLetterTopic, orderEventsTopic, type ClusterHealth } from '@app/messaging';
import { APP_CONFIG, Metrics, type AppConfig } from '@app/platform';

type PartitionLabels = 'topic' | 'partition';

/**
 * The cluster as operators watch it, for this deployment's topics: replication per partition
 * (replicas, in sync, offline), offsets (records/s is their rate), and each replica's log size.
 *
 * Probed on a timer, not when scraped: a scrape then costs nothing on the cluster however many
 * Prometheus servers ask, and a slow broker never makes `/metrics` slow. Probes never overlap (the
 * next is scheduled when one ends). A failed probe is logged and marked (`kafka_cluster_scrape_error`
 * 1, `kafka_cluster_scrape_errors_total`), the partition gauges are emptied rather than left
 * showing a picture that is no longer known, and the worker goes on.
 */
@Injectable()
export class ClusterMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ClusterMetrics');
  private readonly probe: ClusterProbe;
  private readonly topics: readonly string[];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  private readonly brokers: Gauge;
  private readonly minInsync: Gauge<'topic'>;
  private readonly replicas: Gauge<PartitionLabels>;
  private readonly inSync: Gauge<PartitionLabels>;
  private readonly offlineReplicas: Gauge<PartitionLabels>;
  private readonly underReplicated: Gauge<PartitionLabels>;
  private readonly underMinInsync: Gauge<PartitionLabels>;
  private readonly offline: Gauge<PartitionLabels>;
  private readonly highWatermark: Gauge<PartitionLabels>;
  private readonly logStart: Gauge<PartitionLabels>;
  private readonly logSize: Gauge<PartitionLabels | 'broker'>;
  private readonly scrapeError: Gauge;
  private readonly scrapeErrors: Counter;
  private readonly logSizeErrors: Counter;
  private readonly scrapeDuration: Gauge;
  private readonly lastScrape: Gauge;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(KafkaConnection) kafka: KafkaConnection,
    @Inject(Metrics) metrics: Metrics,
  ) {
    this.probe = new ClusterProbe(kafka, config.kafka.clientId);
    this.topics = [orderEventsTopic(config).name, deadLetterTopic(config).name];
    const registers = [metrics.registry];
    const partitionGauge = (name: string, help: string): Gauge<PartitionLabels> =>
      new Gauge({ name, help, labelNames: ['topic', 'partition'], registers });
    this.brokers = new Gauge({ name: 'kafka_cluster_brokers', help: 'Brokers in the cluster metadata', registers });
    this.minInsync = new Gauge({
      name: 'kafka_topic_min_insync_replicas',
      help: "The topic's min.insync.replicas: fewer in sync and acks=all writes are refused",
      labelNames: ['topic'],
      registers,
    });
    this.replicas = partitionGauge('kafka_partition_replicas', 'Replicas assigned to the partition');
    this.inSync = partitionGauge('kafka_partition_in_sync_replicas', 'Replicas in sync with the leader (the ISR)');
    this.offlineReplicas = partitionGauge(
      'kafka_partition_offline_replicas',
      'Replicas on a broker that is down or on a failed log directory',
    );
    this.underReplicated = partitionGauge(
      'kafka_partition_under_replicated',
      '1 while fewer replicas are in sync than assigned',
    );
    this.underMinInsync = partitionGauge(
      'kafka_partition_under_min_insync_replicas',
      "1 while fewer replicas are in sync than the topic's min.insync.replicas: acks=all writes fail",
    );
    this.offline = partitionGauge(
      'kafka_partition_offline',
      '1 while the partition has no leader: no reads, no writes',
    );
    this.highWatermark = partitionGauge(
      'kafka_partition_high_watermark',
      'The offset the next record will get: its rate is records per second',
    );
    this.logStart = partitionGauge(
      'kafka_partition_log_start_offset',
      'The first offset still held; records below it were deleted',
    );
    this.logSize = new Gauge({
      name: 'kafka_partition_log_size_bytes',
      help: "Bytes of the partition's log on each broker holding a replica (DescribeLogDirs)",
      labelNames: ['topic', 'partition', 'broker'],
      registers,
    });
    this.scrapeError = new Gauge({
      name: 'kafka_cluster_scrape_error',
      help: '1 when the last probe of the cluster failed: the kafka_partition_* gauges are then empty',
      registers,
    });
    this.scrapeErrors = new Counter({
      name: 'kafka_cluster_scrape_errors_total',
      help: 'Probes of the cluster that failed',
      registers,
    });
    this.logSizeErrors = new Counter({
      name: 'kafka_cluster_log_size_errors_total',
      help: 'Brokers that did not answer DescribeLogDirs in a probe that otherwise succeeded',
      registers,
    });
    this.scrapeDuration = new Gauge({
      name: 'kafka_cluster_scrape_duration_seconds',
      help: 'How long the last probe of the cluster took',
      registers,
    });
    this.lastScrape = new Gauge({
      name: 'kafka_cluster_last_scrape_timestamp_seconds',
      help: 'When the last successful probe of the cluster ended (Unix time)',
      registers,
    });
  }

  onApplicationBootstrap(): void {
    // The first probe waits one interval: the worker creates its topics while it starts.
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.probe.close().catch(() => undefined);
  }

  /** One probe now; resolves when its figures are set. Never rejects. */
  async refresh(): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      this.record(await this.probe.probe(this.topics));
      this.scrapeError.set(0);
      this.lastScrape.set(Date.now() / 1_000);
    } catch (error) {
      this.clearPartitions();
      this.scrapeError.set(1);
      this.scrapeErrors.inc();
      this.logger.warn(`could not probe the Kafka cluster: ${String(error)}`);
    } finally {
      this.scrapeDuration.set(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.refresh().finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }, this.config.kafka.clusterMetricsIntervalMs).unref();
  }

  private record(health: ClusterHealth): void {
    this.clearPartitions();
    this.brokers.set(health.brokers);
    for (const { topic, minInsyncReplicas, partitions } of health.topics) {
      if (minInsyncReplicas !== undefined) this.minInsync.set({ topic }, minInsyncReplicas);
      for (const partition of partitions) {
        const labels = { topic, partition: String(partition.partition) };
        this.replicas.set(labels, partition.replicas);
        this.inSync.set(labels, partition.inSyncReplicas);
        this.offlineReplicas.set(labels, partition.offlineReplicas);
        this.underReplicated.set(labels, partition.inSyncReplicas < partition.replicas ? 1 : 0);
        this.underMinInsync.set(labels, partition.inSyncReplicas < (minInsyncReplicas ?? 1) ? 1 : 0);
        this.offline.set(labels, partition.leader < 0 ? 1 : 0);
        this.highWatermark.set(labels, Number(partition.highWatermark));
        this.logStart.set(labels, Number(partition.logStartOffset));
      }
    }
    for (const size of health.logSizes) {
      if (size.future) continue; // a copy being moved between a broker's directories, not a replica
      const labels = { topic: size.topic, partition: String(size.partition), broker: String(size.broker) };
      this.logSize.set(labels, size.bytes);
    }
    for (const { broker, error } of health.logSizeErrors) {
      this.logSizeErrors.inc();
      this.logger.warn(`broker ${String(broker)} did not report its log sizes: ${error}`);
    }
  }

  private clearPartitions(): void {
    for (const gauge of [
      this.minInsync,
      this.replicas,
      this.inSync,
      this.offlineReplicas,
      this.underReplicated,
      this.underMinInsync,
      this.offline,
      this.highWatermark,
      this.logStart,
      this.logSize,
    ])
      gauge.reset();
  }
}
