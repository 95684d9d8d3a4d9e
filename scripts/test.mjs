// `npm test [unit|int|e2e …]` and `npm run test:faults`: builds, brings up Kafka and checks Postgres when a tier needs them,
// then runs each tier with node's test runner. Every integration and end-to-end file makes its own
// database, topic and consumer groups (libs/testing), so runs never touch each other or a live system.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';

import { defaultDatabaseUrl, ensureKafka, ensurePostgres, kafkaBrokers, repo, run } from './lib/infra.mjs';

const tiers = { unit: 'unit', int: 'int', e2e: 'e2e', faults: 'faults', debezium: 'debezium' };
// How many spec files of a tier run side by side: fixed, never node's default (one per core but
// one), so a verdict does not depend on the machine it runs on. A 2-core CI machine ran one file at
// a time, and the time-bounded waits of the int, e2e and fault tiers were sized there: those tiers
// keep one file at a time everywhere (fault files also kill processes, hold locks and measure
// against the one shared broker). Unit files touch nothing shared and wait on nothing: two at a time.
// The debezium tier runs a Connect worker (a JVM) and a Postgres of its own per file: one at a time.
const concurrency = { unit: 2, int: 1, e2e: 1, faults: 1, debezium: 1 };
// `npm test` runs these; the fault suite is a run of its own (`npm run test:faults`), CI runs both.
// The debezium tier (`npm run test:debezium`) too: it needs a JDK and Maven besides Node.
const defaultTiers = ['unit', 'int', 'e2e'];
const requested = process.argv.slice(2);
const unknown = requested.filter((tier) => !(tier in tiers));
if (unknown.length > 0) {
  console.error(`unknown test tier ${unknown.join(', ')}; the tiers are: ${Object.keys(tiers).join(', ')}`);
  process.exit(2);
}
const selected = requested.length > 0 ? requested : defaultTiers;
// TEST_READ_DATABASE=separate gives every integration, end-to-end and fault test a read store of
// its own (a second database; on READ_DATABASE_URL's server when that names another): the split
// deployment, tier-wide. Unset or `shared`: one database per test, as by default.
const readStore = process.env.TEST_READ_DATABASE?.trim() || 'shared';
if (!['shared', 'separate'].includes(readStore)) {
  console.error(`TEST_READ_DATABASE must be shared or separate, got "${readStore}"`);
  process.exit(2);
}
// OUTBOX_RELAY=debezium: every test environment that publishes, and is not pinned to the in-process
// relay, publishes through Debezium on a logical-WAL Postgres and Connect worker of its test file's
// own (libs/testing, testRelay). Unset or `in-process`: the in-process relay, as by default.
const relay = process.env.OUTBOX_RELAY?.trim() || 'in-process';
if (!['in-process', 'debezium'].includes(relay)) {
  console.error(`OUTBOX_RELAY must be in-process or debezium, got "${relay}"`);
  process.exit(2);
}
const needsInfrastructure = selected.some((tier) => tier !== 'unit');

process.env.KAFKA_BROKERS = kafkaBrokers(); // every node of a KAFKA_NODES cluster
const env = {
  ...process.env,
  DATABASE_URL: process.env.DATABASE_URL ?? defaultDatabaseUrl,
  TEST_RUN_ID: process.env.TEST_RUN_ID ?? `r${Date.now().toString(36)}${randomBytes(2).toString('hex')}`,
};

let stopKafka = async () => {};
let failed = false;
try {
  const started = Date.now();
  rmSync(join(repo, 'dist-test'), { recursive: true, force: true }); // no stale spec files from deleted sources
  await run('npm', ['run', '--silent', 'build:test'], { env });
  console.log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (needsInfrastructure) {
    await ensurePostgres(env.DATABASE_URL);
    if (readStore === 'separate' && env.READ_DATABASE_URL)
      await ensurePostgres(env.READ_DATABASE_URL, 'READ_DATABASE_URL');
    stopKafka = await ensureKafka();
  }
  for (const tier of selected) {
    const files = specFiles(join(repo, 'dist-test'), `.${tiers[tier]}.spec.js`);
    const split =
      (tier !== 'unit' && readStore === 'separate' ? ', read store separate' : '') +
      (tier !== 'unit' && relay === 'debezium' ? ', relay Debezium' : '');
    console.log(`\n=== ${tier} tests (${files.length} files${split}) ===`);
    if (files.length === 0) throw new Error(`no ${tier} test files found`);
    try {
      await run(
        process.execPath,
        [
          '--enable-source-maps',
          '--test',
          '--test-reporter=spec',
          `--test-concurrency=${String(concurrency[tier])}`,
          `--test-timeout=${tier === 'faults' || tier === 'debezium' ? 600_000 : 180_000}`,
          ...files.map((file) => relative(repo, file)),
        ],
        { env },
      );
    } catch {
      failed = true;
    }
  }
} catch (error) {
  console.error(`\n${error.message}`);
  failed = true;
} finally {
  await stopKafka();
}
process.exit(failed ? 1 : 0);

function specFiles(dir, suffix) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(path).isDirectory()) return specFiles(path, suffix);
    return name.endsWith(suffix) ? [path] : [];
  });
}
