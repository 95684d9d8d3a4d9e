// Brings up what the apps and the tests need, and remembers what it started so it can stop it.
// Docker Compose when a Docker engine answers; otherwise the local broker from Maven Central and
// the Postgres named by DATABASE_URL.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultDatabaseUrl = 'postgres://postgres@127.0.0.1:5432/orders';

export function dockerEngineAvailable() {
  const result = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 });
  return result.status === 0;
}

/**
 * KAFKA_BROKERS as scripts/kafka.sh runs them: with KAFKA_NODES above 1 and only the first broker
 * named (or none), the others on the next even ports (9092, 9094, 9096), so that apps and tests
 * bootstrap from every node, not the first alone.
 */
export function kafkaBrokers(env = process.env) {
  const listed = (env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const nodes = Number(env.KAFKA_NODES ?? 1);
  if (!(nodes > 1) || listed.length !== 1) return listed.join(',');
  const [host, port] = [listed[0].slice(0, listed[0].lastIndexOf(':')), Number(listed[0].split(':').pop())];
  return Array.from({ length: nodes }, (_, index) => `${host}:${port + 2 * index}`).join(',');
}

export function kafkaReachable() {
  return spawnSync(process.execPath, [join(repo, 'scripts/kafka/ping.mjs')], { stdio: 'ignore' }).status === 0;
}

export async function postgresReachable(databaseUrl) {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Returns a function that stops what this call started (a no-op when it reused a running broker). */
export async function ensureKafka() {
  if (kafkaReachable()) {
    console.log(`kafka: reusing broker on ${process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'}`);
    return async () => {};
  }
  if (dockerEngineAvailable()) {
    // KAFKA_NODES=3: the three nodes of docker-compose.yml's cluster profile.
    const cluster = Number(process.env.KAFKA_NODES ?? 1) > 1;
    const compose = ['compose', ...(cluster ? ['--env-file', 'compose/cluster.env'] : [])];
    const nodes = cluster ? ['kafka', 'kafka-2', 'kafka-3'] : ['kafka'];
    await run('docker', [...compose, 'up', '--detach', '--wait', ...nodes]);
    return () => run('docker', [...compose, 'stop', ...nodes]);
  }
  await run('bash', [join(repo, 'scripts/kafka.sh'), 'start']);
  return () => run('bash', [join(repo, 'scripts/kafka.sh'), 'stop']);
}

/** `variable` names where the URL came from, for the message when nothing answers. */
export async function ensurePostgres(databaseUrl, variable = 'DATABASE_URL') {
  if (await postgresReachable(databaseUrl)) return async () => {};
  if (dockerEngineAvailable()) {
    await run('docker', ['compose', 'up', '--detach', '--wait', 'postgres']);
    return () => run('docker', ['compose', 'stop', 'postgres']);
  }
  const shown = databaseUrl.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
  throw new Error(`Postgres does not answer at ${shown}. Start it, or point ${variable} at one.`);
}

/** Runs a command with inherited output; rejects when it fails. */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', cwd: repo, ...options });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`)),
    );
  });
}
