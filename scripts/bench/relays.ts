/**
 * The two outbox relays side by side (issue 19): the command API's in-process relay and Debezium's
 * Postgres connector on Kafka Connect, in one run, on one Postgres cluster of the benchmark's own
 * (wal_level=logical, which Debezium needs and the in-process relay does not mind), against the same
 * broker, with the same orders at the same rates. docs/benchmarks.md, "Relays side by side", defines
 * every figure.
 */

import kafkajs from 'kafkajs';
import pg from 'pg';

import { captureConnectorConfig, captureHeartbeatTopic } from '@app/event-store';
import { KafkaConnection, ensureTopics, heartbeatTopic } from '@app/messaging';
import { migrations } from '@app/migrations';
import { ensureDatabaseExists, runMigrations, type AppConfig } from '@app/platform';
import { PrivateConnect, PrivatePostgres } from '@app/testing/servers';

import { processCpuMs } from './cpu.js';
import { atSteadyRate, placeOrder } from './http-client.js';
import { BenchProcess, freePort } from './processes.js';
import { percentile, round } from './stats.js';
import { targetEnv, type Target } from './system.js';

/** The capture connector of a target: named after its scratch topic, so that its heartbeat topic goes with it. */
export function relayConnectorName(target: Target): string {
  return `orders-outbox-${target.topic}`;
}

/** The three command APIs compared: no relay at all (the CPU baseline), then each relay. */
export const RELAY_SIDES = ['baseline', 'in_process', 'debezium'] as const;
export type RelaySide = (typeof RELAY_SIDES)[number];

export interface RelaySettings {
  /** A scratch topic and consumer-group prefix per side; their databases move to the private cluster. */
  readonly targets: Readonly<Record<RelaySide, Target>>;
  /** Orders per second, open loop, while latency and CPU are measured. */
  readonly rate: number;
  readonly seconds: number;
  /** Orders of the closed-loop burst that measures keeping up. */
  readonly burst: number;
  readonly connections: number;
  /** Where the connector's heartbeat topic is made (the brokers are the Debezium target's). */
  readonly kafka: AppConfig['kafka'];
  readonly log: (message: string) => void;
}

/** CPU of the write side per order, in ms: what each relay adds over a command API with none. */
export interface RelayCpu {
  readonly command_api: number;
  /** The private cluster's backends and background processes, walsenders excluded. */
  readonly postgres: number;
  /** The walsender that decodes the WAL for Debezium's slot (0 for the in-process relay). */
  readonly walsender: number;
  /** Connect's JVM (0 for the in-process relay). */
  readonly connect: number;
  /** All of the above less the baseline's command API and Postgres: the relay's whole cost. */
  readonly relay: number;
}

export interface RelayFigures {
  /** From the command's 201 at the client to the record at a consumer of the topic. */
  readonly latency_ms: { readonly p50: number; readonly p99: number };
  /** Burst orders over the time from its first request to its last 201. */
  readonly commit_per_s: number;
  /** Burst orders over the time from its first request to its last record at the consumer. */
  readonly keep_up_per_s: number;
  /** The last record at the consumer after the last 201 of the burst. */
  readonly drain_lag_ms: number;
  readonly cpu_ms_per_order: RelayCpu;
}

export interface RelayResults {
  readonly rate_per_s: number;
  readonly orders: number;
  readonly burst_orders: number;
  readonly baseline_cpu_ms_per_order: Pick<RelayCpu, 'command_api' | 'postgres'>;
  readonly in_process: RelayFigures;
  readonly debezium: RelayFigures;
  /** Debezium's figure over the in-process relay's. */
  readonly ratios: {
    readonly latency_p50: number;
    readonly latency_p99: number;
    readonly keep_up: number;
    readonly relay_cpu: number;
  };
}

/** Runs the comparison; every server it starts is stopped, and its cluster deleted, before it returns. */
export async function measureRelays(settings: RelaySettings): Promise<RelayResults> {
  const { log } = settings;
  log('relays: a Postgres cluster of its own with wal_level=logical');
  const postgres = await PrivatePostgres.start({ logical: true });
  let connect: PrivateConnect | undefined;
  try {
    const onCluster = (side: RelaySide): Target => {
      const url = new URL(settings.targets[side].databaseUrl);
      url.host = `127.0.0.1:${String(postgres.port)}`;
      return { ...settings.targets[side], databaseUrl: url.toString() };
    };
    const targets = Object.fromEntries(RELAY_SIDES.map((side) => [side, onCluster(side)])) as Record<RelaySide, Target>;
    for (const target of Object.values(targets)) {
      await ensureDatabaseExists(target.databaseUrl);
      await runMigrations(target.databaseUrl, migrations);
    }
    const probes = await clusterProbe(postgres.url);
    try {
      log('relays: no relay (OUTBOX_RELAY_ENABLED=false), for the CPU baseline');
      const baseline = await measureSide(settings, targets.baseline, { OUTBOX_RELAY_ENABLED: 'false' }, probes);
      log('relays: the in-process relay');
      const inProcess = await measureSide(settings, targets.in_process, { OUTBOX_RELAY: 'in-process' }, probes);
      log('relays: Debezium on Kafka Connect (starting the worker)');
      connect = await PrivateConnect.start({ brokers: targets.debezium.brokers, heapOpts: '-Xms128m -Xmx512m' });
      const slot = 'bench_relay_capture';
      const connector = relayConnectorName(targets.debezium);
      await ensureTopics(new KafkaConnection({ ...settings.kafka, brokers: targets.debezium.brokers }), [
        heartbeatTopic(captureHeartbeatTopic(connector)),
      ]);
      await connect.register(
        connector,
        captureConnectorConfig({
          databaseUrl: targets.debezium.databaseUrl,
          topic: targets.debezium.topic,
          slotName: slot,
          connectorName: connector,
        }),
      );
      await connect.waitRunning(connector);
      log(`relays: connector RUNNING (worker up in ${(connect.startedInMs / 1_000).toFixed(1)} s)`);
      const debezium = await measureSide(
        settings,
        targets.debezium,
        { OUTBOX_RELAY: 'debezium', OUTBOX_CAPTURE_SLOT: slot },
        probes,
        connect.pid,
      );
      return summarise(settings, baseline, inProcess, debezium);
    } finally {
      await probes.end();
    }
  } finally {
    await connect?.destroy();
    await postgres.destroy();
  }
}

interface Measured {
  readonly latencies: readonly number[];
  readonly cpuMs: CpuSample;
  readonly orders: number;
  readonly burst?: { readonly commitPerS: number; readonly keepUpPerS: number; readonly drainLagMs: number };
}

function summarise(settings: RelaySettings, baseline: Measured, inProcess: Measured, debezium: Measured): RelayResults {
  const perOrder = (ms: number, orders: number): number => round(ms / orders, 2);
  const baseMs = baseline.cpuMs.command_api + baseline.cpuMs.postgres;
  const figures = (side: Measured): RelayFigures => {
    const { cpuMs, orders, burst } = side;
    const all = cpuMs.command_api + cpuMs.postgres + cpuMs.walsender + cpuMs.connect;
    return {
      latency_ms: { p50: round(percentile(side.latencies, 50), 1), p99: round(percentile(side.latencies, 99), 1) },
      commit_per_s: round(burst?.commitPerS ?? Number.NaN),
      keep_up_per_s: round(burst?.keepUpPerS ?? Number.NaN),
      drain_lag_ms: round(burst?.drainLagMs ?? Number.NaN),
      cpu_ms_per_order: {
        command_api: perOrder(cpuMs.command_api, orders),
        postgres: perOrder(cpuMs.postgres, orders),
        walsender: perOrder(cpuMs.walsender, orders),
        connect: perOrder(cpuMs.connect, orders),
        relay: round(all / orders - baseMs / baseline.orders, 2),
      },
    };
  };
  const [ip, dbz] = [figures(inProcess), figures(debezium)];
  const ratio = (a: number, b: number): number => round(b / a, 2);
  return {
    rate_per_s: settings.rate,
    orders: inProcess.orders,
    burst_orders: settings.burst,
    baseline_cpu_ms_per_order: {
      command_api: perOrder(baseline.cpuMs.command_api, baseline.orders),
      postgres: perOrder(baseline.cpuMs.postgres, baseline.orders),
    },
    in_process: ip,
    debezium: dbz,
    ratios: {
      latency_p50: ratio(ip.latency_ms.p50, dbz.latency_ms.p50),
      latency_p99: ratio(ip.latency_ms.p99, dbz.latency_ms.p99),
      keep_up: ratio(ip.keep_up_per_s, dbz.keep_up_per_s),
      relay_cpu: ratio(ip.cpu_ms_per_order.relay, dbz.cpu_ms_per_order.relay),
    },
  };
}

/**
 * One command API under the same orders: a warm-up, then `rate` orders/s for `seconds` (latency
 * and CPU), then a closed-loop burst (keeping up). Without a relay there is nothing to see on the
 * topic: only CPU is measured, up to the last 201.
 */
async function measureSide(
  settings: RelaySettings,
  target: Target,
  relayEnv: Readonly<Record<string, string>>,
  cluster: ClusterProbe,
  connectPid?: number,
): Promise<Measured> {
  const port = await freePort();
  const api = new BenchProcess(
    'apps/command-api/src/main.js',
    [],
    { ...targetEnv(target), ...relayEnv, COMMAND_API_PORT: String(port) },
    /listening on/,
  );
  const url = `http://127.0.0.1:${String(port)}`;
  const relayed = relayEnv.OUTBOX_RELAY_ENABLED !== 'false';
  const probe = relayed ? await TopicProbe.start(target, `${target.groupPrefix}relay-probe`) : undefined;
  try {
    await api.ready;
    const sample = async (): Promise<CpuSample> => ({
      ...(await cluster.sample()),
      command_api: processCpuMs(api.pid),
      connect: connectPid === undefined ? 0 : processCpuMs(connectPid),
    });
    await probe?.waitFor([...(await openLoop(url, settings.rate, Math.max(1, settings.seconds / 5))).keys()]);
    const before = await sample();
    const acked = await openLoop(url, settings.rate, settings.seconds);
    await probe?.waitFor([...acked.keys()]);
    const cpuMs = difference(before, await sample());
    if (!probe) return { latencies: [], cpuMs, orders: acked.size };
    const latencies = [...acked].map(([orderId, at]) => (probe.seenAt(orderId) ?? Number.NaN) - at);
    const started = performance.now();
    const burst = await closedLoop(url, settings.burst, settings.connections);
    await probe.waitFor([...burst.keys()]);
    const lastAck = Math.max(...burst.values());
    const lastSeen = Math.max(...[...burst.keys()].map((orderId) => probe.seenAt(orderId) ?? Number.NaN));
    return {
      latencies,
      cpuMs,
      orders: acked.size,
      burst: {
        commitPerS: (settings.burst * 1_000) / (lastAck - started),
        keepUpPerS: (settings.burst * 1_000) / (lastSeen - started),
        drainLagMs: lastSeen - lastAck,
      },
    };
  } catch (error) {
    throw new Error(`${String(error)}\ncommand API's last lines:\n${api.tail}`, { cause: error });
  } finally {
    await probe?.stop();
    await api.stop();
  }
}

/** Places one order; resolves with its id and the moment its 201 was read. */
async function placed(url: string): Promise<[string, number]> {
  const { orderId, answeredAt } = await placeOrder(url);
  return [orderId, answeredAt];
}

/**
 * Orders sent at a steady rate whatever the answers (a failure is thrown once all have settled);
 * each order's id and 201 time.
 */
async function openLoop(url: string, rate: number, seconds: number): Promise<Map<string, number>> {
  return new Map(await atSteadyRate(rate, Math.max(1, Math.round(rate * seconds)), () => placed(url)));
}

/** `orders` sent on `connections` loops, each sending its next when the last is answered. */
async function closedLoop(url: string, orders: number, connections: number): Promise<Map<string, number>> {
  const acked = new Map<string, number>();
  let sent = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (sent < orders) {
        sent++;
        const [orderId, at] = await placed(url);
        acked.set(orderId, at);
      }
    }),
  );
  return acked;
}

/** A consumer of a side's topic from offset zero: when each record (key: order id) reached it. */
class TopicProbe {
  private readonly seen = new Map<string, number>();

  private constructor(private readonly consumer: kafkajs.Consumer) {}

  static async start(target: Target, groupId: string): Promise<TopicProbe> {
    const kafka = new kafkajs.Kafka({
      clientId: 'bench-relay-probe',
      brokers: [...target.brokers],
      logLevel: kafkajs.logLevel.ERROR,
    });
    const probe = new TopicProbe(kafka.consumer({ groupId, maxWaitTimeInMs: 100 }));
    // A consumer that never joins (or whose loop stops) shows as the reason, not as a minute's wait.
    const joined = new Promise<void>((resolve, reject) => {
      probe.consumer.on(probe.consumer.events.GROUP_JOIN, () => {
        resolve();
      });
      setTimeout(() => {
        reject(new Error(`the probe did not join group ${groupId} within 30 s`));
      }, 30_000).unref();
    });
    await probe.consumer.connect();
    await probe.consumer.subscribe({ topic: target.topic, fromBeginning: true });
    await probe.consumer.run({
      eachBatch: ({ batch }) => {
        const at = performance.now();
        for (const message of batch.messages) if (message.key) probe.seen.set(message.key.toString(), at);
        return Promise.resolve();
      },
    });
    await joined.catch(async (error: unknown) => {
      await probe.consumer.disconnect();
      throw error;
    });
    return probe;
  }

  seenAt(key: string): number | undefined {
    return this.seen.get(key);
  }

  /** Until every key has been seen; a relay that falls a minute behind fails the run. */
  async waitFor(keys: readonly string[], timeoutMs = 60_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const missing = keys.filter((key) => !this.seen.has(key)).length;
      if (missing === 0) return;
      if (performance.now() > deadline)
        throw new Error(
          `${String(missing)} of ${String(keys.length)} records not on the topic after ${String(timeoutMs / 1_000)} s`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

interface CpuSample {
  readonly command_api: number;
  readonly postgres: number;
  readonly walsender: number;
  readonly connect: number;
}

function difference(before: CpuSample, after: CpuSample): CpuSample {
  return {
    command_api: after.command_api - before.command_api,
    postgres: after.postgres - before.postgres,
    walsender: after.walsender - before.walsender,
    connect: after.connect - before.connect,
  };
}

interface ClusterProbe {
  sample(): Promise<Pick<CpuSample, 'postgres' | 'walsender'>>;
  end(): Promise<void>;
}

/**
 * CPU of the private cluster's processes, each listed in pg_stat_activity (backends, walsenders and
 * background processes). Each sample is the running total of every process ever seen, at its last
 * known value: a process that starts between two samples counts from its start, one that exits
 * between them loses only what it used after the earlier sample.
 */
async function clusterProbe(url: string): Promise<ClusterProbe> {
  const db = new pg.Client({ connectionString: url, application_name: 'bench-relay-cpu' });
  await db.connect();
  const known = new Map<number, { ms: number; walsender: boolean }>();
  return {
    async sample() {
      const { rows } = await db.query<{ pid: number; backend_type: string }>(
        'SELECT pid, backend_type FROM pg_stat_activity',
      );
      for (const { pid, backend_type } of rows) {
        const ms = processCpuMs(pid);
        if (!Number.isNaN(ms)) known.set(pid, { ms, walsender: backend_type === 'walsender' });
      }
      let [postgres, walsender] = [0, 0];
      for (const process of known.values())
        if (process.walsender) walsender += process.ms;
        else postgres += process.ms;
      return { postgres, walsender };
    },
    end: () => db.end(),
  };
}
