import { Counter, Gauge, Histogram } from 'prom-client';
import type { DataSource } from 'typeorm';

import type { TopicOffsets } from '@app/messaging';
import type { Metrics } from '@app/platform';
import type { Projection, ProjectionObserver } from '@app/projections';

/**
 * The worker's metrics. Lag is computed when scraped, as the log end minus the offset stored with
 * the read model, so it is right even while a consumer is stuck or not running.
 */
export class ProjectionMetrics implements ProjectionObserver {
  private readonly applied: Counter<'projection'>;
  private readonly parked: Counter<'projection'>;
  private readonly deadLettered: Counter<'projection'>;
  private readonly alreadyApplied: Counter<'projection'>;
  private readonly batchDuration: Histogram<'projection'>;

  constructor(
    metrics: Metrics,
    dataSource: DataSource,
    offsets: TopicOffsets,
    topic: string,
    projections: readonly Projection[],
  ) {
    const registers = [metrics.registry];
    this.applied = new Counter({
      name: 'projection_events_applied_total',
      help: 'Events applied to read models',
      labelNames: ['projection'],
      registers,
    });
    this.parked = new Counter({
      name: 'projection_events_parked_total',
      help: 'Events parked (poison, or behind poison of their order)',
      labelNames: ['projection'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'projection_events_dead_lettered_total',
      help: 'Poison events sent to the dead-letter topic',
      labelNames: ['projection'],
      registers,
    });
    this.alreadyApplied = new Counter({
      name: 'projection_records_already_applied_total',
      help: 'Records delivered below the stored offset and skipped: a batch fetched before another member applied them',
      labelNames: ['projection'],
      registers,
    });
    this.batchDuration = new Histogram({
      name: 'projection_batch_duration_seconds',
      help: 'Time to apply one partition batch, transaction included',
      labelNames: ['projection'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    new Gauge({
      name: 'projection_consumer_lag',
      help: 'Records in the log not yet applied: log end minus stored offset, per projection and partition',
      labelNames: ['projection', 'partition'],
      registers,
      async collect() {
        const [ends, rows] = await Promise.all([
          offsets.logEnd(topic),
          dataSource.query<{ projection: string; partition: number; next_offset: string }[]>(
            'SELECT projection, partition, next_offset FROM projection_offsets WHERE topic = $1',
            [topic],
          ),
        ]);
        const stored = new Map(rows.map((row) => [`${row.projection}|${row.partition}`, BigInt(row.next_offset)]));
        for (const { name } of projections) {
          for (const [partition, end] of ends) {
            const lag = BigInt(end) - (stored.get(`${name}|${partition}`) ?? 0n);
            this.set({ projection: name, partition: String(partition) }, Number(lag));
          }
        }
      },
    });
    new Gauge({
      name: 'projection_parked_events',
      help: 'Events currently parked, per projection',
      labelNames: ['projection'],
      registers,
      async collect() {
        const rows = await dataSource.query<{ projection: string; n: number }[]>(
          'SELECT projection, count(*)::int AS n FROM parked_events GROUP BY projection',
        );
        const counts = new Map(rows.map((row) => [row.projection, row.n]));
        for (const { name } of projections) this.set({ projection: name }, counts.get(name) ?? 0);
      },
    });
  }

  batchApplied(
    projection: string,
    outcome: { applied: number; parked: number; deadLettered: number; alreadyApplied: number; seconds: number },
  ): void {
    this.applied.inc({ projection }, outcome.applied);
    this.parked.inc({ projection }, outcome.parked);
    this.deadLettered.inc({ projection }, outcome.deadLettered);
    this.alreadyApplied.inc({ projection }, outcome.alreadyApplied);
    this.batchDuration.observe({ projection }, outcome.seconds);
  }
}
