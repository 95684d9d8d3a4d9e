/**
 * `npm run bench`: the system's figures beside the raw ceilings of its parts, measured in one run on
 * scratch databases and topics, printed as a table and written to bench/results/latest.json.
 * docs/benchmarks.md explains every figure and holds the reference run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import pg from 'pg';

import { migrations } from '@app/migrations';
import { KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { ensureDatabaseExists, loadConfigOrExit, quoteIdentifier, runMigrations, type AppConfig } from '@app/platform';

import { appendCeiling, consumeCeiling, produceCeiling, upsertCeiling } from './ceilings.js';
import { postLoad } from './http-load.js';
import { BenchUsageError, USAGE, parseBenchOptions, type BenchOptions } from './options.js';
import { BenchProcess, freePort } from './processes.js';
import { machine, markdownTable, ratios, type BenchResults } from './report.js';
import { round } from './stats.js';
import { measureOrders, measureReplay, measureVisibility, startSystem, type Target } from './system.js';
import { writeSyntheticLog } from './synthetic-log.js';

const repo = join(import.meta.dirname, '..', '..', '..');

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
const log = (message: string): void => { console.log(`bench: ${message}`); };

/** A scratch database and topic of this run, migrated like production. */
async function scratch(label: string): Promise<{ target: Target; config: AppConfig }> {
  const url = new URL(base.databaseUrl);
  url.pathname = `/orders_bench_${runId}_${label}`;
  const target: Target = { databaseUrl: url.toString(), brokers: base.kafka.brokers, topic: `orders.bench.${runId}.${label}`, groupPrefix: `bench.${runId}.${label}.` };
  const config: AppConfig = { ...base, databaseUrl: target.databaseUrl, kafka: { ...base.kafka, ordersTopic: target.topic, groupPrefix: target.groupPrefix } };
  await ensureDatabaseExists(target.databaseUrl);
  await runMigrations(target.databaseUrl, migrations);
  await ensureTopics(kafka, [orderEventsTopic(config)]);
  return { target, config };
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
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await db.end();
  }
}

async function dropScratch(targets: readonly Target[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: targets.map((t) => t.topic) }).catch(() => undefined);
  await admin.disconnect();
  const maintenance = new URL(base.databaseUrl);
  maintenance.pathname = '/postgres';
  const db = new pg.Client({ connectionString: maintenance.toString() });
  await db.connect();
  for (const target of targets) await db.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(new URL(target.databaseUrl).pathname.slice(1))} WITH (FORCE)`);
  await db.end();
}

const kafka = new KafkaConnection(base.kafka);
const load = { connections: options.connections, durationSeconds: options.durationSeconds };
const scratchTargets: Target[] = [];
let exitCode = 0;
try {
  log(`run ${runId}: ${options.quick ? 'quick' : 'full'}; ${String(load.connections)} connections, ${String(load.durationSeconds)} s per load, replay of ${options.events.toLocaleString('en')} events`);
  const [raw, live, replay, produce] = await Promise.all(['raw', 'live', 'replay', 'produce'].map((label) => scratch(label)));
  if (!raw || !live || !replay || !produce) throw new Error('scratch setup failed');
  scratchTargets.push(raw.target, live.target, replay.target, produce.target);

  log('ceiling: NestJS hello-world on the same adapter, same load');
  const port = await freePort();
  const hello = new BenchProcess('scripts/bench/hello-app.js', [String(port)], {}, /listening on/);
  await hello.ready;
  await postLoad(`http://127.0.0.1:${String(port)}/orders`, { ...load, durationSeconds: Math.max(1, Math.round(load.durationSeconds / 5)) });
  const http = await postLoad(`http://127.0.0.1:${String(port)}/orders`, load);
  await hello.stop();

  log('ceiling: the raw append transaction through pg, same concurrency');
  const appendTps = await appendCeiling(raw.target.databaseUrl, load);

  log('system: POST /orders under load, then visibility at half that rate');
  const system = await startSystem(live.target);
  let orders, visible;
  try {
    orders = await measureOrders(system, load);
    log(`  ${String(round(orders.rps))} orders/s (${String(orders.failed)} failed); waiting for the pipeline to catch up`);
    log(`  caught up in ${(await caughtUp(live.target.databaseUrl)).toFixed(1)} s`);
    visible = await measureVisibility(system, orders.rps / 2, load.durationSeconds);
  } finally {
    await system.stop();
  }
  if (orders.failed > 0 || visible.failed > 0) throw new Error(`${String(orders.failed)} orders and ${String(visible.failed)} visibility probes failed`);

  log(`seeding the replay log: ${options.events.toLocaleString('en')} events`);
  const events = await writeSyntheticLog(kafka, orderEventsTopic(replay.config), options.events);
  log('ceiling: raw kafkajs produce');
  const produceMps = await produceCeiling(base.kafka.brokers, produce.target.topic, options.produceMessages);
  log('ceiling: raw kafkajs consume from offset 0');
  const consumeMps = await consumeCeiling(base.kafka.brokers, replay.target.topic, events);
  log('ceiling: raw multi-row upserts');
  const upsertRps = await upsertCeiling(replay.target.databaseUrl, Math.min(events, options.quick ? 20_000 : 200_000));
  log('system: full replay of the order view from offset 0');
  const replayed = await measureReplay(replay.target, events);

  const ceilings = { http_rps: round(http.rps), append_tps: round(appendTps), produce_mps: round(produceMps), consume_mps: round(consumeMps), upsert_rps: round(upsertRps) };
  const figures = {
    orders_per_s: round(orders.rps),
    order_latency_ms: { p50: round(orders.p50, 1), p99: round(orders.p99, 1) },
    visible_latency_ms: { p50: round(visible.p50, 1), p99: round(visible.p99, 1) },
    replay_events_per_s: round(replayed.eventsPerSecond),
    replay_peak_rss_mb: round(replayed.peakRssMb),
  };
  const results: BenchResults = { machine: machine(options.quick), ceilings, system: figures, ratios: ratios(ceilings, figures) };
  const dir = join(repo, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${markdownTable(results, replayed)}\n\nvisibility: ${String(visible.samples)} orders at ${String(round(orders.rps / 2))}/s; replay: ${String(events)} events in ${replayed.seconds.toFixed(1)} s\nwritten to bench/results/latest.json`);
} catch (error) {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  if (!options.keep) await dropScratch(scratchTargets).catch((error: unknown) => { console.error(`bench: cleanup failed: ${String(error)}`); });
}
process.exit(exitCode);
