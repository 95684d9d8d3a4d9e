import { cpus, totalmem } from 'node:os';

import type { CpuProcess } from './cpu.js';
import type { RelayFigures, RelayResults } from './relays.js';
import { round } from './stats.js';

/** Milliseconds of CPU per order each process may spend (issue 15); `total` across the machine. */
export const CPU_GOALS_MS: Readonly<Record<CpuProcess | 'total', number>> = {
  command_api: 1.0,
  projection_worker: 0.6,
  query_api: 0.5,
  kafka: 1.0,
  postgres: 2.0,
  total: 5.0,
};

/** The processes whose CPU per order the closed-loop load measures (the query API serves no reads there). */
const LOAD_PROCESSES = ['command_api', 'projection_worker', 'kafka', 'postgres'] as const;

/** `bench/results/latest.json`: these keys exactly (issue 6); docs/benchmarks.md explains each. */
export interface BenchResults {
  readonly machine: {
    readonly cpus: number;
    readonly cpu_model: string;
    readonly memory_gb: number;
    readonly node: string;
    readonly quick: boolean;
    readonly at: string;
  };
  readonly ceilings: {
    readonly http_rps: number;
    /** The same hello-world on Nest's Express adapter (the apps' adapter before issue 15), for comparison. */
    readonly http_express_rps: number;
    readonly append_tps: number;
    readonly produce_mps: number;
    readonly consume_mps: number;
    readonly upsert_rps: number;
  };
  readonly system: {
    readonly orders_per_s: number;
    readonly order_latency_ms: { readonly p50: number; readonly p99: number };
    readonly visible_latency_ms: { readonly p50: number; readonly p99: number };
    readonly replay_events_per_s: number;
    readonly replay_peak_rss_mb: number;
    /** Measured over the visibility phase: each order placed, then read with `?minVersion=1`. */
    readonly cpu_ms_per_order: Readonly<Record<CpuProcess | 'total', number>>;
    /**
     * Cores in use over the visibility phase: the machine's in all and busy, the five processes' of
     * cpu_ms_per_order together (its total is `system` ÷ the rate), and the benchmark process's own
     * (`client`: mostly its client, which places and reads the orders on the same machine). With the
     * machine busy, the system had the cores left to it, not the cores its work needed.
     */
    readonly visibility_cores: {
      readonly machine: number;
      readonly machine_busy: number;
      readonly system: number;
      readonly client: number;
    };
    /**
     * The same processes over the closed-loop `POST /orders` load, the pipeline working beside it:
     * what an order costs at the system's own rate, where batches are largest. The query API serves
     * no reads there, so its figure is only its idle cost.
     */
    readonly load_cpu_ms_per_order: Readonly<Record<CpuProcess | 'total', number>>;
    /** CPU per replayed event, from the replay's start to its exit: the replaying process, Postgres, the broker. */
    readonly replay_cpu_us_per_event: Readonly<Record<'replay' | 'postgres' | 'kafka' | 'total', number>>;
  };
  readonly ratios: {
    readonly orders_vs_ceiling: number;
    readonly orders_vs_pipeline: number;
    readonly replay_vs_ceiling: number;
    readonly replay_vs_consume: number;
  };
  /**
   * The most this machine's cores allow at the CPU measured in this run, however well the work
   * overlapped: the cores divided by the CPU per order (the closed-loop load's five processes; the
   * load generator's share is not counted, so the bound is generous) or per replayed event. A goal
   * out of reach even here needs less CPU per order or event, not a better use of the cores
   * (docs/benchmarks.md, "Bounds").
   */
  readonly bounds: {
    readonly cores: number;
    /** What the consume ceiling itself cost: kafkajs in the benchmark's process and the broker. */
    readonly consume_cpu_us_per_message: Readonly<Record<'kafkajs' | 'kafka' | 'total', number>>;
    readonly orders_per_s: number;
    readonly orders_vs_pipeline: number;
    readonly replay_events_per_s: number;
    readonly replay_vs_consume: number;
  };
  /** The two outbox relays side by side (issue 19); null with `--no-relays`. */
  readonly relays: RelayResults | null;
}

export function machine(quick: boolean): BenchResults['machine'] {
  return {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gb: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    quick,
    at: new Date().toISOString(),
  };
}

/**
 * `orders_vs_pipeline`: the orders/s measured, over what the machine could do if an order cost only the
 * raw parts it passes through, one after another on the same cores: one hello-world request, one
 * append transaction, one produced and one consumed record and one upserted row per projection.
 */
export function ratios(
  ceilings: BenchResults['ceilings'],
  system: Pick<BenchResults['system'], 'orders_per_s' | 'replay_events_per_s'>,
  projections: number,
): BenchResults['ratios'] {
  return {
    orders_vs_ceiling: round(system.orders_per_s / Math.min(ceilings.http_rps, ceilings.append_tps), 2),
    orders_vs_pipeline: round(system.orders_per_s * pipelineSecondsPerOrder(ceilings, projections), 2),
    replay_vs_ceiling: round(system.replay_events_per_s / Math.min(ceilings.consume_mps, ceilings.upsert_rps), 2),
    replay_vs_consume: round(system.replay_events_per_s / ceilings.consume_mps, 2),
  };
}

/** An order's time through the raw parts, one after another: the sum `orders_vs_pipeline` multiplies by. */
function pipelineSecondsPerOrder(ceilings: BenchResults['ceilings'], projections: number): number {
  return (
    1 / ceilings.http_rps +
    1 / ceilings.append_tps +
    1 / ceilings.produce_mps +
    1 / ceilings.consume_mps +
    projections / ceilings.upsert_rps
  );
}

/** The `bounds` of a run: its cores over its CPU per order and per replayed event, and the ratios those rates would give. */
export function bounds(
  ceilings: BenchResults['ceilings'],
  system: Pick<BenchResults['system'], 'load_cpu_ms_per_order' | 'replay_cpu_us_per_event'>,
  measured: {
    readonly cores: number;
    readonly projections: number;
    readonly consumeCpu: BenchResults['bounds']['consume_cpu_us_per_message'];
  },
): BenchResults['bounds'] {
  const ordersPerSecond = (measured.cores * 1_000) / system.load_cpu_ms_per_order.total;
  const eventsPerSecond = (measured.cores * 1_000_000) / system.replay_cpu_us_per_event.total;
  return {
    cores: measured.cores,
    consume_cpu_us_per_message: measured.consumeCpu,
    orders_per_s: round(ordersPerSecond),
    orders_vs_pipeline: round(ordersPerSecond * pipelineSecondsPerOrder(ceilings, measured.projections), 2),
    replay_events_per_s: round(eventsPerSecond),
    replay_vs_consume: round(eventsPerSecond / ceilings.consume_mps, 2),
  };
}

/** Flat: no later quarter of the run peaks more than 15 % above the first (which includes start-up). */
export function isFlat(rssByQuarterMb: readonly number[]): boolean {
  const [first, ...later] = rssByQuarterMb;
  if (first === undefined || Number.isNaN(first)) return false;
  return later.every((mb) => Number.isNaN(mb) || mb <= first * 1.15);
}

/** Busy nine tenths of the time or more: no core is left idle for long (docs/benchmarks.md, "An eighth look"). */
export function saturated(cores: BenchResults['system']['visibility_cores']): boolean {
  return cores.machine > 0 && cores.machine_busy >= 0.9 * cores.machine;
}

/** The markdown table the run prints: each figure, what it is measured against, and the goal. */
export function markdownTable(
  results: BenchResults,
  notes: { readonly rssByQuarterMb: readonly number[]; readonly visibleRate: number; readonly projections: number },
): string {
  const { ceilings: c, system: s, ratios: r, bounds: b } = results;
  const mark = (ok: boolean): string => (ok ? 'yes' : '**no**');
  const rows: [string, string, string][] = [
    ['ceiling: HTTP hello-world, Fastify (req/s)', String(c.http_rps), ''],
    ['ceiling: HTTP hello-world, Express (req/s), for comparison', String(c.http_express_rps), ''],
    ['ceiling: append transaction (tx/s)', String(c.append_tps), ''],
    ['ceiling: Kafka produce (msg/s)', String(c.produce_mps), ''],
    ['ceiling: Kafka consume from 0 (msg/s)', String(c.consume_mps), ''],
    ['ceiling: multi-row upsert (rows/s)', String(c.upsert_rps), ''],
    ['orders/s (POST /orders)', String(s.orders_per_s), ''],
    ['order latency p50 / p99 (ms)', `${String(s.order_latency_ms.p50)} / ${String(s.order_latency_ms.p99)}`, ''],
    [
      `visible latency p50 / p99 (ms), at ${String(round(notes.visibleRate))} orders/s`,
      `${String(s.visible_latency_ms.p50)} / ${String(s.visible_latency_ms.p99)}`,
      `p50 ≤ 25, p99 ≤ 100: ${mark(s.visible_latency_ms.p50 <= 25 && s.visible_latency_ms.p99 <= 100)}`,
    ],
    ['replay (events/s, from offset 0)', String(s.replay_events_per_s), ''],
    [
      'replay peak RSS (MB), by quarter of the run',
      `${String(s.replay_peak_rss_mb)} (${notes.rssByQuarterMb.map((mb) => (Number.isNaN(mb) ? '–' : String(round(mb)))).join(' / ')})`,
      `≤ 300 and flat: ${mark(s.replay_peak_rss_mb <= 300 && isFlat(notes.rssByQuarterMb))}`,
    ],
    [
      'cores in use over the visibility phase: machine busy of all / the five processes / the benchmark (its client)',
      `${String(s.visibility_cores.machine_busy)} of ${String(s.visibility_cores.machine)} / ${String(s.visibility_cores.system)} / ${String(s.visibility_cores.client)}`,
      saturated(s.visibility_cores)
        ? 'machine saturated: the processes had only the cores left, so CPU per order here follows the rate more than the code'
        : '',
    ],
    ...(Object.keys(CPU_GOALS_MS) as (keyof typeof CPU_GOALS_MS)[]).map((name): [string, string, string] => [
      `CPU ms per order, visibility phase: ${name.replaceAll('_', ' ')}`,
      String(s.cpu_ms_per_order[name]),
      `≤ ${CPU_GOALS_MS[name].toFixed(1)}: ${mark(s.cpu_ms_per_order[name] <= CPU_GOALS_MS[name])}`,
    ]),
    [
      'CPU ms per order under the closed-loop load: command api / worker / kafka / postgres = total (query api, idle there)',
      `${LOAD_PROCESSES.map((name) => String(s.load_cpu_ms_per_order[name])).join(' / ')} = ` +
        `${String(s.load_cpu_ms_per_order.total)} (${String(s.load_cpu_ms_per_order.query_api)})`,
      `≤ ${LOAD_PROCESSES.map((name) => CPU_GOALS_MS[name].toFixed(1)).join(' / ')} = ${CPU_GOALS_MS.total.toFixed(1)}: ` +
        `${LOAD_PROCESSES.map((name) => mark(s.load_cpu_ms_per_order[name] <= CPU_GOALS_MS[name])).join(' / ')} = ` +
        mark(s.load_cpu_ms_per_order.total <= CPU_GOALS_MS.total),
    ],
    ['orders_vs_ceiling = orders/s ÷ min(http, append)', String(r.orders_vs_ceiling), ''],
    [
      `orders_vs_pipeline = orders/s × (1/http + 1/append + 1/produce + 1/consume + ${String(notes.projections)}/upsert)`,
      String(r.orders_vs_pipeline),
      `≥ 0.6: ${mark(r.orders_vs_pipeline >= 0.6)}`,
    ],
    ['replay_vs_ceiling = replay ÷ min(consume, upsert)', String(r.replay_vs_ceiling), ''],
    ['replay_vs_consume = replay ÷ consume', String(r.replay_vs_consume), `≥ 0.6: ${mark(r.replay_vs_consume >= 0.6)}`],
    [
      'CPU µs per replayed event: replay / postgres / kafka = total',
      `${String(s.replay_cpu_us_per_event.replay)} / ${String(s.replay_cpu_us_per_event.postgres)} / ${String(s.replay_cpu_us_per_event.kafka)} = ${String(s.replay_cpu_us_per_event.total)}`,
      '',
    ],
    [
      'CPU µs per message of the consume ceiling: kafkajs / kafka = total',
      `${String(b.consume_cpu_us_per_message.kafkajs)} / ${String(b.consume_cpu_us_per_message.kafka)} = ${String(b.consume_cpu_us_per_message.total)}`,
      '',
    ],
    [
      `bound: orders/s the ${String(b.cores)} cores allow at the load's CPU per order → orders_vs_pipeline`,
      `${String(b.orders_per_s)} → ${String(b.orders_vs_pipeline)}`,
      `0.6 within reach at this CPU per order: ${mark(b.orders_vs_pipeline >= 0.6)}`,
    ],
    [
      `bound: replay events/s the ${String(b.cores)} cores allow at its CPU per event → replay_vs_consume`,
      `${String(b.replay_events_per_s)} → ${String(b.replay_vs_consume)}`,
      `0.6 within reach at this CPU per event: ${mark(b.replay_vs_consume >= 0.6)}`,
    ],
  ];
  return [
    '| figure | value | goal |',
    '|---|---:|---|',
    ...rows.map(([name, value, goal]) => `| ${name} | ${value} | ${goal} |`),
  ].join('\n');
}

/** The section "relays side by side": both relays' figures and Debezium's over the in-process relay's. */
export function relaysTable(relays: RelayResults): string {
  const { in_process: ip, debezium: dbz } = relays;
  const ratio = (pick: (f: RelayFigures) => number): string => String(round(pick(dbz) / pick(ip), 2));
  const row = (name: string, pick: (f: RelayFigures) => number, withRatio = true): string =>
    `| ${name} | ${String(pick(ip))} | ${String(pick(dbz))} | ${withRatio ? ratio(pick) : ''} |`;
  const base = relays.baseline_cpu_ms_per_order;
  return [
    `relays side by side: ${String(relays.orders)} orders at ${String(relays.rate_per_s)}/s, then a burst of ${String(relays.burst_orders)}; no relay at all: command API ${String(base.command_api)} + Postgres ${String(base.postgres)} CPU ms per order`,
    '',
    '| relays side by side | in-process | Debezium | Debezium ÷ in-process |',
    '|---|---:|---:|---:|',
    row('commit-to-topic latency p50 (ms): 201 at the client to record at a consumer', (f) => f.latency_ms.p50),
    row('commit-to-topic latency p99 (ms)', (f) => f.latency_ms.p99),
    row('keep-up (records/s): burst ÷ (first request → last record)', (f) => f.keep_up_per_s),
    row('commits during the burst (orders/s)', (f) => f.commit_per_s),
    row('last record after the last commit (ms)', (f) => f.drain_lag_ms),
    row('relay CPU ms per order (write side less no relay)', (f) => f.cpu_ms_per_order.relay),
    row('  command API CPU ms per order', (f) => f.cpu_ms_per_order.command_api, false),
    row('  Postgres CPU ms per order (walsender apart)', (f) => f.cpu_ms_per_order.postgres, false),
    row('  walsender CPU ms per order', (f) => f.cpu_ms_per_order.walsender, false),
    row('  Connect JVM CPU ms per order', (f) => f.cpu_ms_per_order.connect, false),
  ].join('\n');
}
