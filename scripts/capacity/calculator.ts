/**
 * Capacity from measured figures: the pure arithmetic behind `npm run capacity` (docs/capacity.md).
 * Every quantity carries its formula and the numbers plugged in, so a reader can check each one and
 * redo it with their own figures.
 */

/** What `npm run bench` measured, reduced to what sizing needs. */
export interface MeasuredFigures {
  /** Where the figures come from: a results file, or the reference run in docs/benchmarks.md. */
  readonly source: string;
  /** Raw kafkajs consume from offset 0, one consumer (msg/s). */
  readonly consumePerSecond: number;
  /** A projection rebuilt from offset 0 (events/s), applying `replayPartitionsAtOnce` partitions at once. */
  readonly replayEventsPerSecond: number;
  readonly replayPartitionsAtOnce: number;
  /**
   * CPU milliseconds per order of each process, measured with one event per order (`OrderPlaced`, read
   * back once): so per event and command for the writers, per read for the query API.
   */
  readonly cpuMsPerEvent: {
    readonly commandApi: number;
    readonly worker: number;
    readonly queryApi: number;
    readonly kafka: number;
    readonly postgres: number;
  };
}

/**
 * The reference run of docs/benchmarks.md (`09e5ff2`, 2-core machine, alone; CPU at half the order
 * rate, on a saturated machine, so an upper bound): used when no results file is given.
 */
export const REFERENCE_FIGURES: MeasuredFigures = {
  source: 'docs/benchmarks.md, reference run at 09e5ff2',
  consumePerSecond: 192_014,
  replayEventsPerSecond: 37_679,
  replayPartitionsAtOnce: 2,
  cpuMsPerEvent: { commandApi: 0.79, worker: 0.51, queryApi: 0.38, kafka: 0.21, postgres: 0.91 },
};

export interface Target {
  readonly ordersPerSecond: number;
  readonly eventsPerOrder: number;
  /** A record as stored: key, value, headers and batch overhead (kafka_partition_log_size_bytes ÷ records). */
  readonly eventBytes: number;
  readonly retentionDays: number;
  readonly replication: number;
  /** Peak over average order rate. */
  readonly peak: number;
  /** Spare capacity above the peak: 0.5 sizes for 1.5 × peak. */
  readonly headroom: number;
  readonly projections: number;
  readonly reads: number;
  readonly broker: { readonly diskGb: number; readonly networkMBps: number; readonly cores: number };
  /** WAL bytes Postgres writes per event byte (event row, outbox row and delete, projection rows, indexes). */
  readonly walFactor: number;
  /** Connections each process opens to Postgres, at most (its pools, from the code's defaults). */
  readonly connections: { readonly commandApi: number; readonly worker: number; readonly queryApi: number };
}

export interface Quantity {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly formula: string;
  /** The formula with the numbers in it. */
  readonly workings: string;
}

export interface CapacityPlan {
  readonly figures: MeasuredFigures;
  readonly sections: readonly { readonly title: string; readonly quantities: readonly Quantity[] }[];
}

const GB = 1e9;
const MB = 1e6;
const DAY_SECONDS = 86_400;

export function planCapacity(target: Target, figures: MeasuredFigures): CapacityPlan {
  const t = target;
  const cpu = figures.cpuMsPerEvent;
  const load = (1 + t.headroom) * t.peak;

  const averageEvents = t.ordersPerSecond * t.eventsPerOrder;
  const designEvents = averageEvents * load;
  const designBytes = designEvents * t.eventBytes;
  const rates = [
    q(
      'average events/s',
      averageEvents,
      'events/s',
      'orders/s × events per order',
      `${n(t.ordersPerSecond)} × ${n(t.eventsPerOrder)}`,
    ),
    q(
      'design events/s',
      designEvents,
      'events/s',
      'average events/s × peak × (1 + headroom)',
      `${n(averageEvents)} × ${n(t.peak)} × ${n(1 + t.headroom)}`,
    ),
    q(
      'design bytes/s',
      designBytes / MB,
      'MB/s',
      'design events/s × event bytes',
      `${n(designEvents)} × ${n(t.eventBytes)} B`,
    ),
  ];

  const storedPerDay = averageEvents * t.eventBytes * DAY_SECONDS;
  const disk = (storedPerDay * t.retentionDays * t.replication * (1 + t.headroom)) / GB;
  const networkIn = (designBytes * t.replication) / MB;
  const networkOut = (designBytes * (t.replication - 1 + t.projections)) / MB;
  const kafkaCores = (designEvents * cpu.kafka) / 1_000;
  const byDisk = Math.ceil(disk / t.broker.diskGb);
  const byNetwork = Math.ceil(Math.max(networkIn, networkOut) / t.broker.networkMBps);
  const byCpu = Math.ceil(kafkaCores / t.broker.cores);
  const brokers = Math.max(t.replication, byDisk, byNetwork, byCpu);
  const kafka = [
    q(
      'disk, whole cluster',
      disk,
      'GB',
      'average events/s × event bytes × 86,400 × retention days × replication × (1 + headroom)',
      `${n(averageEvents)} × ${n(t.eventBytes)} B × 86,400 × ${n(t.retentionDays)} × ${n(t.replication)} × ${n(1 + t.headroom)}`,
    ),
    q(
      'network in, whole cluster',
      networkIn,
      'MB/s',
      'design bytes/s × replication (produce, and each follower fetching it)',
      `${n(designBytes / MB)} MB/s × ${n(t.replication)}`,
    ),
    q(
      'network out, whole cluster',
      networkOut,
      'MB/s',
      'design bytes/s × (replication − 1 + consumer groups): followers and one read per projection',
      `${n(designBytes / MB)} MB/s × (${n(t.replication)} − 1 + ${n(t.projections)})`,
    ),
    q(
      'broker cores',
      kafkaCores,
      'cores',
      'design events/s × Kafka CPU ms per event ÷ 1,000',
      `${n(designEvents)} × ${n(cpu.kafka)} ÷ 1,000`,
    ),
    q(
      'brokers',
      brokers,
      '',
      'max(replication, ⌈disk ÷ disk per broker⌉, ⌈max(network in, out) ÷ network per broker⌉, ⌈broker cores ÷ cores per broker⌉)',
      `max(${n(t.replication)}, ⌈${n(disk)} ÷ ${n(t.broker.diskGb)}⌉, ⌈${n(Math.max(networkIn, networkOut))} ÷ ${n(t.broker.networkMBps)}⌉, ⌈${n(kafkaCores)} ÷ ${n(t.broker.cores)}⌉) = max(${n(t.replication)}, ${n(byDisk)}, ${n(byNetwork)}, ${n(byCpu)})`,
    ),
  ];

  const perPartition = Math.min(
    figures.consumePerSecond,
    figures.replayEventsPerSecond / figures.replayPartitionsAtOnce,
  );
  const workerCores = (designEvents * cpu.worker) / 1_000;
  // A worker process is one Node thread: one core's worth of projections at most.
  const workers = Math.max(1, Math.ceil(workerCores));
  const byThroughput = Math.ceil(designEvents / perPartition);
  const partitions = roundUp(Math.max(byThroughput, workers), brokers);
  const read = [
    q(
      'one partition, applied by one consumer',
      perPartition,
      'events/s',
      'min(consume ceiling, replay events/s ÷ partitions the replay applies at once)',
      `min(${n(figures.consumePerSecond)}, ${n(figures.replayEventsPerSecond)} ÷ ${n(figures.replayPartitionsAtOnce)})`,
    ),
    q(
      'worker cores',
      workerCores,
      'cores',
      `design events/s × worker CPU ms per event (all ${n(t.projections)} projections) ÷ 1,000`,
      `${n(designEvents)} × ${n(cpu.worker)} ÷ 1,000`,
    ),
    q('worker processes', workers, '', '⌈worker cores⌉ (one Node thread each)', `⌈${n(workerCores)}⌉`),
    q(
      'partitions of orders.events',
      partitions,
      '',
      'max(⌈design events/s ÷ one partition⌉, worker processes), rounded up to a multiple of brokers',
      `max(⌈${n(designEvents)} ÷ ${n(perPartition)}⌉, ${n(workers)}) = max(${n(byThroughput)}, ${n(workers)}), to a multiple of ${n(brokers)}`,
    ),
  ];

  const commandApis = Math.max(1, Math.ceil((designEvents * cpu.commandApi) / 1_000));
  const queryApis = Math.max(1, Math.ceil((t.ordersPerSecond * load * t.reads * cpu.queryApi) / 1_000));
  const apps = [
    q(
      'command API processes',
      commandApis,
      '',
      '⌈design events/s × command API CPU ms per command ÷ 1,000⌉ (a command per event)',
      `⌈${n(designEvents)} × ${n(cpu.commandApi)} ÷ 1,000⌉`,
    ),
    q(
      'query API processes',
      queryApis,
      '',
      '⌈orders/s × peak × (1 + headroom) × reads per order × query API CPU ms per read ÷ 1,000⌉',
      `⌈${n(t.ordersPerSecond)} × ${n(load)} × ${n(t.reads)} × ${n(cpu.queryApi)} ÷ 1,000⌉`,
    ),
  ];

  const pgCores = (designEvents * cpu.postgres) / 1_000;
  const commits = designEvents;
  const projectionCommits = designEvents * t.projections;
  const wal = (designBytes * t.walFactor) / MB;
  const walPerDay = (averageEvents * t.eventBytes * t.walFactor * DAY_SECONDS) / GB;
  const storePerDay = (averageEvents * t.eventBytes * 1.5 * DAY_SECONDS) / GB;
  const connections =
    commandApis * t.connections.commandApi + workers * t.connections.worker + queryApis * t.connections.queryApi;
  const postgres = [
    q(
      'Postgres cores',
      pgCores,
      'cores',
      'design events/s × Postgres CPU ms per event ÷ 1,000',
      `${n(designEvents)} × ${n(cpu.postgres)} ÷ 1,000`,
    ),
    q(
      'durable commits (WAL flushes), at most',
      commits,
      'flushes/s',
      'design events/s (one command transaction per event; group commit merges concurrent ones)',
      n(designEvents),
    ),
    q(
      'projection transactions, at most',
      projectionCommits,
      'tx/s',
      'design events/s × projections (one event per batch; batches grow under load; asynchronous commit)',
      `${n(designEvents)} × ${n(t.projections)}`,
    ),
    q(
      'WAL at design rate',
      wal,
      'MB/s',
      'design bytes/s × WAL factor',
      `${n(designBytes / MB)} MB/s × ${n(t.walFactor)}`,
    ),
    q(
      'WAL per day, average',
      walPerDay,
      'GB/day',
      'average events/s × event bytes × WAL factor × 86,400',
      `${n(averageEvents)} × ${n(t.eventBytes)} B × ${n(t.walFactor)} × 86,400`,
    ),
    q(
      'event store growth',
      storePerDay,
      'GB/day',
      'average events/s × event bytes × 1.5 (row and index overhead) × 86,400: kept forever',
      `${n(averageEvents)} × ${n(t.eventBytes)} B × 1.5 × 86,400`,
    ),
    q(
      'connections, at most',
      connections,
      '',
      'command APIs × their pool + workers × their pools + query APIs × their pool',
      `${n(commandApis)} × ${n(t.connections.commandApi)} + ${n(workers)} × ${n(t.connections.worker)} + ${n(queryApis)} × ${n(t.connections.queryApi)}`,
    ),
  ];

  return {
    figures,
    sections: [
      { title: 'Rates', quantities: rates },
      { title: 'Kafka', quantities: kafka },
      { title: 'Read side: partitions and workers', quantities: read },
      { title: 'HTTP apps', quantities: apps },
      { title: 'Postgres', quantities: postgres },
    ],
  };
}

function q(name: string, value: number, unit: string, formula: string, workings: string): Quantity {
  return { name, value, unit, formula, workings };
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** A number as the plan prints it: thousands separated, at most two decimals. */
export function n(value: number): string {
  return value.toLocaleString('en', { maximumFractionDigits: 2 });
}
