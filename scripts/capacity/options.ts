import { REPLAY_CONCURRENT_PARTITIONS, projections } from '@app/projections';

import type { MeasuredFigures, Target } from './calculator.js';

export const USAGE = `Usage: npm run capacity -- --orders-per-second N [options]

Sizes partitions, brokers, disk, network, workers and Postgres for a target load from the figures
\`npm run bench\` measured (docs/capacity.md), printing each quantity with its formula.

Target:
  --orders-per-second N   average orders per second (required)
  --events-per-order N    events each order writes over its life   (default 3)
  --event-bytes N         a record as stored: key, value, headers  (default 600)
  --retention-days N      days of log kept on the brokers          (default 7; orders.events keeps
                          everything, so this is the planning horizon)
  --replication N         replicas of each partition               (default 3)
  --peak N                peak over average order rate             (default 2)
  --headroom N            spare capacity above the peak, 0.5 = 50 % (default 0.5)
  --reads-per-order N     query API reads per order                (default 1)
  --projections N         consumer groups reading the log          (default ${String(projections.length)}, this repository's)
Brokers and Postgres:
  --broker-disk-gb N      usable disk per broker                   (default 1000)
  --broker-network-mbps N network per broker, MB/s each way        (default 125, 1 Gbit/s)
  --broker-cores N        cores per broker                         (default 4)
  --wal-factor N          WAL bytes per event byte                 (default 6, an estimate: measure it)
Measured figures:
  --from FILE             a bench results file (default bench/results/latest.json when it exists,
                          else the reference run in docs/benchmarks.md)
  --help                  this text`;

/** A bad command line: the message names the flag. */
export class CapacityUsageError extends Error {}

export interface CapacityOptions {
  readonly target: Target;
  readonly from: string | undefined;
}

interface NumberFlag {
  readonly key: string;
  readonly fallback: number | undefined;
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
}

const NUMBERS: Readonly<Record<string, NumberFlag>> = {
  '--orders-per-second': { key: 'ordersPerSecond', fallback: undefined, min: 0.001, max: 10_000_000, integer: false },
  '--events-per-order': { key: 'eventsPerOrder', fallback: 3, min: 1, max: 10_000, integer: false },
  '--event-bytes': { key: 'eventBytes', fallback: 600, min: 1, max: 1_000_000, integer: true },
  '--retention-days': { key: 'retentionDays', fallback: 7, min: 0.01, max: 100_000, integer: false },
  '--replication': { key: 'replication', fallback: 3, min: 1, max: 10, integer: true },
  '--peak': { key: 'peak', fallback: 2, min: 1, max: 1_000, integer: false },
  '--headroom': { key: 'headroom', fallback: 0.5, min: 0, max: 10, integer: false },
  '--reads-per-order': { key: 'reads', fallback: 1, min: 0, max: 10_000, integer: false },
  '--projections': { key: 'projections', fallback: projections.length, min: 1, max: 1_000, integer: true },
  '--broker-disk-gb': { key: 'diskGb', fallback: 1_000, min: 1, max: 10_000_000, integer: false },
  '--broker-network-mbps': { key: 'networkMBps', fallback: 125, min: 1, max: 1_000_000, integer: false },
  '--broker-cores': { key: 'cores', fallback: 4, min: 1, max: 1_024, integer: true },
  '--wal-factor': { key: 'walFactor', fallback: 6, min: 1, max: 100, integer: false },
};

export function parseCapacityOptions(argv: readonly string[]): CapacityOptions | 'help' {
  const values = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--help') continue;
    if (!(arg in NUMBERS) && arg !== '--from') throw new CapacityUsageError(`unknown option ${JSON.stringify(arg)}`);
    if (values.has(arg)) throw new CapacityUsageError(`${arg} is given twice`);
    const value = argv[++index];
    if (value === undefined || value.startsWith('--')) throw new CapacityUsageError(`${arg} needs a value`);
    values.set(arg, value);
  }
  if (argv.includes('--help')) return 'help';
  const read: Record<string, number> = {};
  for (const [flag, spec] of Object.entries(NUMBERS)) {
    const raw = values.get(flag);
    if (raw === undefined) {
      if (spec.fallback === undefined) throw new CapacityUsageError(`${flag} is required`);
      read[spec.key] = spec.fallback;
      continue;
    }
    const value = Number(raw);
    const shape = spec.integer ? /^\d+$/ : /^\d+(\.\d+)?$/;
    if (!shape.test(raw) || value < spec.min || value > spec.max)
      throw new CapacityUsageError(
        `${flag} must be ${spec.integer ? 'an integer' : 'a number'} from ${String(spec.min)} to ${String(spec.max)}, not ${JSON.stringify(raw)}`,
      );
    read[spec.key] = value;
  }
  const get = (key: string): number => read[key] ?? Number.NaN;
  return {
    from: values.get('--from'),
    target: {
      ordersPerSecond: get('ordersPerSecond'),
      eventsPerOrder: get('eventsPerOrder'),
      eventBytes: get('eventBytes'),
      retentionDays: get('retentionDays'),
      replication: get('replication'),
      peak: get('peak'),
      headroom: get('headroom'),
      reads: get('reads'),
      projections: get('projections'),
      broker: { diskGb: get('diskGb'), networkMBps: get('networkMBps'), cores: get('cores') },
      walFactor: get('walFactor'),
      // The pools' sizes in the code: DatabaseModule's 10 everywhere, plus the worker's pipelined
      // connections (at most 8) and each command API's relay lock session.
      connections: { commandApi: 11, worker: 18, queryApi: 10 },
    },
  };
}

/** The figures sizing needs from a `bench/results/latest.json`; a file without them is refused, naming what is missing. */
export function figuresFromBench(json: unknown, source: string): MeasuredFigures {
  const at = (path: string): number => {
    let value: unknown = json;
    for (const key of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
    if (typeof value !== 'number' || !(value > 0))
      throw new CapacityUsageError(`--from ${source}: ${path} is missing or not a positive number`);
    return value;
  };
  return {
    source,
    consumePerSecond: at('ceilings.consume_mps'),
    replayEventsPerSecond: at('system.replay_events_per_s'),
    replayPartitionsAtOnce: REPLAY_CONCURRENT_PARTITIONS,
    cpuMsPerEvent: {
      commandApi: at('system.cpu_ms_per_order.command_api'),
      worker: at('system.cpu_ms_per_order.projection_worker'),
      queryApi: at('system.cpu_ms_per_order.query_api'),
      kafka: at('system.cpu_ms_per_order.kafka'),
      postgres: at('system.cpu_ms_per_order.postgres'),
    },
  };
}
