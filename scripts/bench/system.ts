/** The system under load, as separate processes from dist/: what a deployment runs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  coresBetween,
  cpuPerOrder,
  cpuUsPer,
  machineCpu,
  ownCpuMs,
  reapedChildrenCpuMs,
  sampleCpu,
  sampleServersCpu,
} from './cpu.js';
import { percentile } from './stats.js';
import { BenchProcess, freePort } from './processes.js';
import { atSteadyRate, placeOrder, requestJson } from './http-client.js';
import { postLoad, type HttpLoadResult } from './http-load.js';

/** Where the system's processes point: a scratch database and topic of this run. */
export interface Target {
  readonly databaseUrl: string;
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly groupPrefix: string;
}

export function targetEnv(target: Target): Record<string, string> {
  return {
    DATABASE_URL: target.databaseUrl,
    // The scratch database holds both sides: a READ_DATABASE_URL of the shell must not leak in.
    READ_DATABASE_URL: target.databaseUrl,
    KAFKA_BROKERS: target.brokers.join(','),
    ORDERS_TOPIC: target.topic,
    KAFKA_GROUP_PREFIX: target.groupPrefix,
    HOST: '127.0.0.1',
    LOG_FORMAT: 'json',
  };
}

export interface RunningSystem {
  readonly commandUrl: string;
  readonly queryUrl: string;
  readonly pids: Readonly<Record<'command_api' | 'projection_worker' | 'query_api', number>>;
  stop(): Promise<void>;
}

/** Starts the projection worker, the command API (with the outbox relay) and the query API. */
export async function startSystem(target: Target): Promise<RunningSystem> {
  const [commandPort, queryPort, workerPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const env = {
    ...targetEnv(target),
    COMMAND_API_PORT: String(commandPort),
    QUERY_API_PORT: String(queryPort),
    PROJECTION_WORKER_PORT: String(workerPort),
  };
  const ready = /listening on|projections running/;
  const worker = new BenchProcess('apps/projection-worker/src/main.js', [], env, ready);
  const commands = new BenchProcess('apps/command-api/src/main.js', [], env, ready);
  const queries = new BenchProcess('apps/query-api/src/main.js', [], env, ready);
  const processes = [worker, commands, queries];
  const stop = async (): Promise<void> => {
    await Promise.all(processes.map((p) => p.stop()));
  };
  try {
    await Promise.all(processes.map((p) => p.ready));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    commandUrl: `http://127.0.0.1:${String(commandPort)}`,
    queryUrl: `http://127.0.0.1:${String(queryPort)}`,
    pids: { command_api: commands.pid, projection_worker: worker.pid, query_api: queries.pid },
    stop,
  };
}

export interface OrderLoad extends HttpLoadResult {
  /**
   * CPU per order of each process over the measured load (not the warm-up), the relay and the
   * projections working beside it: what an order costs at the system's own rate. The query API
   * serves no reads in this phase.
   */
  readonly cpuMsPerOrder: ReturnType<typeof cpuPerOrder>;
}

/** `POST /orders` under closed-loop load, after a warm-up of a fifth of the duration. */
export async function measureOrders(
  system: RunningSystem,
  load: { connections: number; durationSeconds: number },
): Promise<OrderLoad> {
  await postLoad(`${system.commandUrl}/orders`, {
    ...load,
    durationSeconds: Math.max(1, Math.round(load.durationSeconds / 5)),
  });
  const cpuBefore = sampleCpu(system.pids);
  const result = await postLoad(`${system.commandUrl}/orders`, load);
  return { ...result, cpuMsPerOrder: cpuPerOrder(cpuBefore, sampleCpu(system.pids), result.ok) };
}

export interface Visibility {
  readonly p50: number;
  readonly p99: number;
  readonly samples: number;
  readonly failed: number;
  /** CPU per order of each process over the phase, from the first measured order sent to the last one visible. */
  readonly cpuMsPerOrder: ReturnType<typeof cpuPerOrder>;
  /**
   * Cores in use over the same span: the machine's (busy, and in all), the system's processes', and
   * the benchmark process's own (its client).
   */
  readonly cores: ReturnType<typeof coresBetween>;
}

/**
 * Open-loop: orders placed at a steady `rate`, and for each, the time from the command's answer until
 * `GET /orders/:id?minVersion=1` on the query API answers with it. The query waits for the version
 * itself, so this is the pipeline's delay (relay, Kafka, worker, commit) plus one read. The first
 * fifth of the duration (at least one order) is a warm-up at the same rate, as for the closed-loop
 * load: its orders are placed and read but not measured, and the measured orders follow them
 * without a pause (the first second at a new rate opens connections and compiles the read path:
 * docs/benchmarks.md, "A ninth look").
 */
export async function measureVisibility(
  system: RunningSystem,
  rate: number,
  durationSeconds: number,
): Promise<Visibility> {
  const delays: number[] = [];
  let failed = 0;
  const one = async (measured: boolean): Promise<void> => {
    try {
      const { orderId, answeredAt } = await placeOrder(system.commandUrl);
      const read = await requestJson(`${system.queryUrl}/orders/${orderId}?minVersion=1`);
      if (read.status !== 200) throw new Error(`GET /orders/:id answered ${String(read.status)}`);
      if (measured) delays.push(performance.now() - answeredAt);
    } catch {
      failed++;
    }
  };
  const warmUp = Math.max(1, Math.round((rate * durationSeconds) / 5));
  const total = Math.max(1, Math.round(rate * durationSeconds));
  let measuring:
    | { at: number; cpu: ReturnType<typeof sampleCpu>; machine: ReturnType<typeof machineCpu>; client: number }
    | undefined;
  await atSteadyRate(rate, warmUp + total, (index) => {
    if (index === warmUp)
      measuring = {
        at: performance.now(),
        cpu: sampleCpu(system.pids),
        machine: machineCpu(),
        client: ownCpuMs(),
      };
    return one(index >= warmUp);
  });
  if (!measuring) throw new Error('the visibility phase placed no measured order');
  const cpuAfter = sampleCpu(system.pids);
  const cores = coresBetween(
    { before: measuring.machine, after: machineCpu() },
    { before: measuring.cpu, after: cpuAfter },
    performance.now() - measuring.at,
    ownCpuMs() - measuring.client,
  );
  const cpuMsPerOrder = cpuPerOrder(measuring.cpu, cpuAfter, total);
  return {
    p50: percentile(delays, 50),
    p99: percentile(delays, 99),
    samples: delays.length,
    failed,
    cpuMsPerOrder,
    cores,
  };
}

/**
 * The node flags `npm run replay` starts the CLI with (package.json's script, e.g. its heap limit), so
 * the benchmark measures the process users run.
 */
function replayNodeFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const flags = /node((?:\s+--[\w-]+(?:=\S+)?)*)\s+dist\/apps\/admin-cli\//.exec(scripts.replay ?? '')?.[1];
  if (flags === undefined) throw new Error('package.json has no "replay" script that runs dist/apps/admin-cli');
  return flags
    .trim()
    .split(/\s+/)
    .filter((flag) => flag !== '');
}

export interface ReplayFigures {
  readonly eventsPerSecond: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  /** Peak resident memory in each quarter of the run (NaN for a quarter without a sample): flat when the log's size does not show in it. */
  readonly rssByQuarterMb: readonly number[];
  /** CPU per replayed event, start to exit: the replaying process, Postgres and the broker. */
  readonly cpuUsPerEvent: Readonly<Record<'replay' | 'postgres' | 'kafka' | 'total', number>>;
}

/**
 * `npm run replay -- order-view` as a deployment runs it (the compiled admin CLI, its own process),
 * over a log of `events` from offset zero; timed from start to exit, its memory sampled every 100 ms.
 */
export async function measureReplay(target: Target, events: number): Promise<ReplayFigures> {
  const cpu = (): Readonly<Record<'replay' | 'postgres' | 'kafka', number>> => ({
    replay: reapedChildrenCpuMs(),
    ...sampleServersCpu(),
  });
  const cpuBefore = cpu();
  const started = performance.now();
  const cli = new BenchProcess(
    'apps/admin-cli/src/main.js',
    ['order-view'],
    targetEnv(target),
    undefined,
    replayNodeFlags(),
  );
  const samples: { at: number; mb: number }[] = [];
  const sampler = setInterval(() => {
    const mb = cli.rssMb();
    if (mb !== undefined) samples.push({ at: performance.now() - started, mb });
  }, 100);
  const code = await cli.exited.finally(() => {
    clearInterval(sampler);
  });
  const seconds = (performance.now() - started) / 1_000;
  const cpuAfter = cpu(); // the replay has exited and been reaped: its CPU is the reaped children's growth
  if (code !== 0) throw new Error(`the replay exited with ${String(code)}:\n${cli.tail}`);
  const quarters = [0, 1, 2, 3].map((q) => {
    const inQuarter = samples
      .filter((s) => Math.min(3, Math.floor((s.at / 1_000 / seconds) * 4)) === q)
      .map((s) => s.mb);
    return inQuarter.length > 0 ? Math.max(...inQuarter) : Number.NaN;
  });
  return {
    eventsPerSecond: events / seconds,
    seconds,
    peakRssMb: Math.max(0, ...samples.map((s) => s.mb)),
    rssByQuarterMb: quarters,
    cpuUsPerEvent: cpuUsPer(cpuBefore, cpuAfter, events),
  };
}
