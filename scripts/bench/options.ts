/** `npm run bench -- [--quick] [--events N] [--duration S] [--connections N] [--relay-rate N] [--no-relays] [--keep]`. */
export interface BenchOptions {
  readonly quick: boolean;
  /** Events in the replayed log (and read by the consume ceiling). */
  readonly events: number;
  /** Seconds each HTTP and append measurement runs, after a warm-up of a fifth of that. */
  readonly durationSeconds: number;
  /** Concurrent HTTP connections, and concurrent append transactions for its ceiling. */
  readonly connections: number;
  /** Orders per second while visibility is measured; by default half the measured order rate. */
  readonly visibleRate: number | undefined;
  /** Messages the produce ceiling sends. */
  readonly produceMessages: number;
  /** The two outbox relays side by side (scripts/bench/relays.ts), or undefined with `--no-relays`. */
  readonly relays:
    | {
        /** Orders per second while commit-to-topic latency and CPU are measured. */
        readonly rate: number;
        /** Seconds at that rate, after a warm-up of a fifth of that. */
        readonly seconds: number;
        /** Orders of the closed-loop burst that measures keeping up. */
        readonly burst: number;
      }
    | undefined;
  /** Keep the scratch databases and topics (for a look afterwards). */
  readonly keep: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]

Measures the system (orders/s, latencies, replay speed and memory) beside the raw ceilings of its
parts (HTTP adapter, append transaction, Kafka produce and consume, multi-row upserts), in one run,
on scratch databases and topics. Prints a table and writes bench/results/latest.json.

  --quick            small numbers, about a minute (CI runs this so the harness cannot rot)
  --events N         events in the replayed log, 4000 or more (default 1000000; quick 20000)
  --duration S       seconds per HTTP/append measurement    (default 20; quick 3)
  --connections N    concurrent connections / transactions  (default 10, the command API's pool)
  --visible-rate N   orders/s while visibility is measured  (default half the measured order rate;
                     a fixed rate makes runs comparable when the order rate moves)
  --relay-rate N     orders/s while the two outbox relays' latency and CPU are measured
                     (default 100; quick 50)
  --no-relays        skip the relays side by side (in-process vs Debezium on Kafka Connect;
                     needs Java 17+, Maven and initdb, and adds about a minute)
  --keep             keep the scratch databases and topics
  --help             this text`;

export class BenchUsageError extends Error {}

export function parseBenchOptions(argv: readonly string[]): BenchOptions | 'help' {
  const quick = argv.includes('--quick');
  const values = new Map<string, string>();
  const flags = new Set(['--quick', '--keep', '--help', '--no-relays']);
  const valued = new Set(['--events', '--duration', '--connections', '--visible-rate', '--relay-rate']);
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (flags.has(arg)) continue;
    if (!valued.has(arg)) throw new BenchUsageError(`unknown option ${JSON.stringify(arg)}`);
    if (values.has(arg)) throw new BenchUsageError(`${arg} is given twice`);
    const value = argv[++index];
    if (value === undefined) throw new BenchUsageError(`${arg} needs a value`);
    values.set(arg, value);
  }
  if (argv.includes('--help')) return 'help';
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max)
      throw new BenchUsageError(
        `${name} must be an integer from ${String(min)} to ${String(max)}, not ${JSON.stringify(raw)}`,
      );
    return value;
  };
  const events = integer('--events', quick ? 20_000 : 1_000_000, 4_000, 50_000_000);
  const durationSeconds = integer('--duration', quick ? 3 : 20, 1, 3_600);
  const relayRate = integer('--relay-rate', quick ? 50 : 100, 1, 10_000);
  if (argv.includes('--no-relays') && values.has('--relay-rate'))
    throw new BenchUsageError('--relay-rate sets the relays side by side, which --no-relays skips');
  return {
    quick,
    events,
    durationSeconds,
    connections: integer('--connections', 10, 1, 1_000),
    visibleRate: values.has('--visible-rate') ? integer('--visible-rate', 0, 1, 100_000) : undefined,
    produceMessages: quick ? 20_000 : 200_000,
    relays: argv.includes('--no-relays')
      ? undefined
      : { rate: relayRate, seconds: Math.max(5, durationSeconds), burst: quick ? 1_000 : 5_000 },
    keep: argv.includes('--keep'),
  };
}
