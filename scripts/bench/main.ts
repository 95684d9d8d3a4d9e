/**
 * `npm run bench`: the system's figures beside the raw ceilings of its parts, measured in one run on
 * scratch databases and topics, printed as a table and written to bench/results/latest.json.
 * docs/benchmarks.md explains every figure and holds the reference run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { captureHeartbeatTopic } from '@app/event-store';
import { migrations } from '@app/migrations';
import { KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { ensureDatabaseExists, loadConfigOrExit, quoteIdentifier, runMigrations, type AppConfig } from '@app/platform';
import { REPLAY_CONCURRENT_PARTITIONS, projections } from '@app/projections';

import { appendCeiling, consumeCeiling, produceCeiling, upsertCeiling } from './ceilings.js';
import { postLoad } from './http-load.js';
import { BenchUsageError, USAGE, parseBenchOptions, type BenchOptions } from './options.js';
import { BenchProcess, freePort } from './processes.js';
import { RELAY_SIDES, measureRelays, relayConnectorName, type RelayResults, type RelaySide } from './relays.js';
import { bounds, machine, markdownTable, ratios, relaysTable, type BenchResults } from './report.js';
import { round } from './stats.js';
import { measureOrders, measureReplay, measureVisibility, startSystem, type Target } from './system.js';
import { writeSyntheticLog } from './synthetic-log.js';

const repo = join(import.meta.dirname, '..', '..', '..');
/** How long the pipeline may take to catch up after the order load before the run is called failed. */
const CATCH_UP_TIMEOUT_MS = 120_000;

let options: BenchOptions;
try {
  const parsed = parseBenchOptions(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    process.exit(0);
  }
  options = parsed;
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  console.error(`bench: ${error.message}\nRun \`npm run bench -- --help\` for usage.`);
  process.exit(2);
}

const base = loadConfigOrExit();
const runId = `b${Date.now().toString(36)}`;
const log = (message: string): void => {
  console.log(`bench: ${message}`);
};
const kafka = new KafkaConnection(base.kafka);

interface Scratch {
  readonly target: Target;
  readonly config: AppConfig;
}

/** A scratch database and topic of this run. Named here, created by `create`, dropped by `dropScratch`. */
function scratch(label: string): Scratch {
  const url = new URL(base.databaseUrl);
  url.pathname = `/orders_bench_${runId}_${label}`;
  const target: Target = {
    databaseUrl: url.toString(),
    brokers: base.kafka.brokers,
    topic: `orders.bench.${runId}.${label}`,
    groupPrefix: `bench.${runId}.${label}.`,
  };
  return {
    target,
    config: {
      ...base,
      databaseUrl: target.databaseUrl,
      kafka: { ...base.kafka, ordersTopic: target.topic, groupPrefix: target.groupPrefix },
    },
  };
}

/** Creates and migrates the database like production, and creates the topic. */
async function create({ target, config }: Scratch): Promise<void> {
  await ensureDatabaseExists(target.databaseUrl);
  await runMigrations(target.databaseUrl, migrations);
  await ensureTopics(kafka, [orderEventsTopic(config)]);
}

/** Until the relay has published everything and the worker has projected every order placed. */
async function caughtUp(databaseUrl: string): Promise<number> {
  const started = performance.now();
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    for (;;) {
      const { rows } = await db.query<{ pending: number; events: number; views: number }>(
        'SELECT (SELECT count(*) FROM outbox)::int AS pending, (SELECT count(*) FROM events)::int AS events, (SELECT count(*) FROM order_view)::int AS views',
      );
      const row = rows[0];
      if (row && row.pending === 0 && row.views === row.events) return (performance.now() - started) / 1_000;
      if (performance.now() - started > CATCH_UP_TIMEOUT_MS) {
        throw new Error(
          `the pipeline did not catch up in ${String(CATCH_UP_TIMEOUT_MS / 1_000)} s: ${JSON.stringify(row)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await db.end();
  }
}

/** Drops the run's databases, topics (with the dead-letter topic the worker creates) and consumer groups. */
async function dropScratch(targets: readonly Target[]): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    // Only what exists: kafkajs retries a delete of an unknown topic for seconds.
    const ours = new Set(
      targets.flatMap((t) => [t.topic, `${t.topic}.dlq`, captureHeartbeatTopic(relayConnectorName(t))]),
    );
    await admin.deleteTopics({ topics: (await admin.listTopics()).filter((topic) => ours.has(topic)) });
    const groups = async (): Promise<string[]> =>
      (await admin.listGroups()).groups.map((g) => g.groupId).filter((id) => id.startsWith(`bench.${runId}.`));
    const made = await groups();
    if (made.length > 0) await admin.deleteGroups(made);
    const left = await groups();
    if (left.length > 0) throw new Error(`consumer groups still on the broker: ${left.join(', ')}`);
  } catch (error) {
    console.error(`bench: could not delete every topic and group of run ${runId}: ${String(error)}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const maintenance = new URL(base.databaseUrl);
  maintenance.pathname = '/postgres';
  const db = new pg.Client({ connectionString: maintenance.toString() });
  await db.connect();
  try {
    for (const target of targets)
      await db.query(
        `DROP DATABASE IF EXISTS ${quoteIdentifier(new URL(target.databaseUrl).pathname.slice(1))} WITH (FORCE)`,
      );
  } finally {
    await db.end();
  }
}

const load = { connections: options.connections, durationSeconds: options.durationSeconds };
const [raw, live, replay, produce] = (['raw', 'live', 'replay', 'produce'] as const).map((label) => scratch(label)) as [
  Scratch,
  Scratch,
  Scratch,
  Scratch,
];
// The relays' databases live on a cluster of their own (deleted with it); their topics are on the broker.
const relaySides = options.relays
  ? (Object.fromEntries(RELAY_SIDES.map((side) => [side, scratch(`relay_${side}`)])) as Record<RelaySide, Scratch>)
  : undefined;
const targets = [
  raw.target,
  live.target,
  replay.target,
  produce.target,
  ...Object.values(relaySides ?? {}).map((s) => s.target),
];
let cleaning: Promise<void> | undefined;
const cleanUp = (): Promise<void> =>
  (cleaning ??= (async () => {
    await BenchProcess.stopAll();
    if (options.keep) return;
    await dropScratch(targets).catch((error: unknown) => {
      console.error(`bench: cleanup failed: ${String(error)}`);
    });
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\nbench: ${signal}: stopping the processes it started and dropping run ${runId}'s scratch data`);
    void cleanUp().finally(() => process.exit(130));
  });
}

let exitCode = 0;
try {
  log(
    `run ${runId}: ${options.quick ? 'quick' : 'full'}; ${String(load.connections)} connections, ${String(load.durationSeconds)} s per load, replay of ${options.events.toLocaleString('en')} events`,
  );
  await Promise.all([raw, live, replay, produce].map((s) => create(s)));

  /** A NestJS hello-world on `adapter`, under the same load as the command API, after the same warm-up. */
  const helloCeiling = async (adapter: 'express' | 'fastify'): Promise<number> => {
    const port = await freePort();
    const hello = new BenchProcess('scripts/bench/hello-app.js', [String(port), adapter], {}, /listening on/);
    try {
      await hello.ready;
      await postLoad(`http://127.0.0.1:${String(port)}/orders`, {
        ...load,
        durationSeconds: Math.max(1, Math.round(load.durationSeconds / 5)),
      });
      return (await postLoad(`http://127.0.0.1:${String(port)}/orders`, load)).rps;
    } finally {
      await hello.stop();
    }
  };
  log('ceiling: NestJS hello-world on the same adapter (Fastify), same load');
  const httpRps = await helloCeiling('fastify');
  log('ceiling: NestJS hello-world on Express, for comparison');
  const httpExpressRps = await helloCeiling('express');

  log('ceiling: the raw append transaction through pg, same concurrency');
  const appendTps = await appendCeiling(raw.target.databaseUrl, load);

  log('system: POST /orders under load, then visibility');
  const system = await startSystem(live.target);
  let orders, visible, visibleRate;
  try {
    orders = await measureOrders(system, load);
    log(
      `  ${String(round(orders.rps))} orders/s (${String(orders.failed)} failed); waiting for the pipeline to catch up`,
    );
    log(`  caught up in ${(await caughtUp(live.target.databaseUrl)).toFixed(1)} s`);
    visibleRate = options.visibleRate ?? orders.rps / 2;
    log(
      `  visibility at ${String(round(visibleRate))} orders/s${options.visibleRate === undefined ? ' (half the order rate)' : ''}`,
    );
    visible = await measureVisibility(system, visibleRate, load.durationSeconds);
  } finally {
    await system.stop();
  }
  // A failed request is not a figure: it means the system or the run is broken.
  if (orders.failed > 0 || visible.failed > 0)
    throw new Error(`${String(orders.failed)} orders and ${String(visible.failed)} visibility probes failed`);

  log(`seeding the replay log: ${options.events.toLocaleString('en')} events`);
  const events = await writeSyntheticLog(kafka, orderEventsTopic(replay.config), options.events);
  log('ceiling: raw kafkajs produce');
  const produceMps = await produceCeiling(base.kafka.brokers, produce.target.topic, options.produceMessages);
  log('ceiling: raw kafkajs consume from offset 0');
  const consumed = await consumeCeiling(
    base.kafka.brokers,
    replay.target.topic,
    events,
    `bench.${runId}.consume-ceiling`,
  );
  log(`ceiling: raw multi-row upserts, ${String(REPLAY_CONCURRENT_PARTITIONS)} connections as the replay applies`);
  const upsertRps = await upsertCeiling(
    replay.target.databaseUrl,
    Math.min(events, options.quick ? 20_000 : 200_000),
    REPLAY_CONCURRENT_PARTITIONS,
  );
  log('system: full replay of the order view from offset 0');
  const replayed = await measureReplay(replay.target, events);

  let relays: RelayResults | null = null;
  if (options.relays && relaySides) {
    const started = performance.now();
    await ensureTopics(
      kafka,
      Object.values(relaySides).map((s) => orderEventsTopic(s.config)),
    );
    const sides = Object.fromEntries(RELAY_SIDES.map((side) => [side, relaySides[side].target])) as Record<
      RelaySide,
      Target
    >;
    relays = await measureRelays({
      ...options.relays,
      targets: sides,
      connections: load.connections,
      kafka: base.kafka,
      log,
    });
    log(`relays side by side took ${((performance.now() - started) / 1_000).toFixed(0)} s`);
  }

  const ceilings = {
    http_rps: round(httpRps),
    http_express_rps: round(httpExpressRps),
    append_tps: round(appendTps),
    produce_mps: round(produceMps),
    consume_mps: round(consumed.perSecond),
    upsert_rps: round(upsertRps),
  };
  const figures = {
    orders_per_s: round(orders.rps),
    order_latency_ms: { p50: round(orders.p50, 1), p99: round(orders.p99, 1) },
    visible_latency_ms: { p50: round(visible.p50, 1), p99: round(visible.p99, 1) },
    replay_events_per_s: round(replayed.eventsPerSecond),
    replay_peak_rss_mb: round(replayed.peakRssMb),
    cpu_ms_per_order: visible.cpuMsPerOrder,
    visibility_cores: visible.cores,
    load_cpu_ms_per_order: orders.cpuMsPerOrder,
    replay_cpu_us_per_event: replayed.cpuUsPerEvent,
  };
  const results: BenchResults = {
    machine: machine(options.quick),
    ceilings,
    system: figures,
    ratios: ratios(ceilings, figures, projections.length),
    bounds: bounds(ceilings, figures, {
      cores: cpus().length,
      projections: projections.length,
      consumeCpu: consumed.cpuUsPerMessage,
    }),
    relays,
  };
  const dir = join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(
    `\n${markdownTable(results, { ...replayed, visibleRate, projections: projections.length })}\n\nvisibility: ${String(visible.samples)} orders at ${String(round(visibleRate))}/s; replay: ${String(events)} events in ${replayed.seconds.toFixed(1)} s${relays ? `\n\n${relaysTable(relays)}` : ''}\nwritten to bench/results/latest.json`,
  );
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await cleanUp();
}
process.exit(exitCode);
