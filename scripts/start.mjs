// `npm start`: infrastructure up, database migrated, every app in its own process with labelled
// logs; Ctrl-C stops everything this command started.
//
//   npm start [-- --scale command-api=2,projection-worker=3,query-api=2]
//   OUTBOX_RELAY=debezium npm start    Debezium's connector on Kafka Connect publishes the outbox
//
// Scaling (also APP_SCALE with the same value): instance n of an app (from 0) listens on its
// port + 10 n (command APIs 3000, 3010, …). Command APIs share the outbox (one relay leads, the
// others take over when it stops), workers share the topic's partitions (one consumer group per
// projection), query APIs answer the same contract from the same read store.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import {
  defaultDatabaseUrl,
  dockerEngineAvailable,
  ensureKafka,
  ensurePostgres,
  kafkaBrokers,
  repo,
  run,
} from './lib/infra.mjs';
import { instancesOf, parseScale } from './lib/scale.mjs';

// Text logs read better in a terminal; services in production keep the JSON default.
process.env.KAFKA_BROKERS = kafkaBrokers(); // every node of a KAFKA_NODES cluster
const relay = process.env.OUTBOX_RELAY?.trim() || 'in-process';
if (!['in-process', 'debezium'].includes(relay)) {
  console.error(`npm start: OUTBOX_RELAY must be one of in-process, debezium, got "${relay}"`);
  process.exit(2);
}
// OUTBOX_RELAY=debezium needs a Postgres with wal_level=logical: scripts/connect.sh starts one (port
// CONNECT_PG_PORT, 5433) unless DATABASE_URL names one of yours.
const connectPostgresUrl = `postgres://postgres@127.0.0.1:${process.env.CONNECT_PG_PORT ?? '5433'}/orders`;
const env = {
  LOG_FORMAT: 'text',
  ...process.env,
  OUTBOX_RELAY: relay,
  DATABASE_URL: process.env.DATABASE_URL ?? (relay === 'debezium' ? connectPostgresUrl : defaultDatabaseUrl),
};
const host = env.HOST && env.HOST !== '0.0.0.0' ? env.HOST : '127.0.0.1';
const appNames = ['command-api', 'projection-worker', 'query-api'];
let scale;
let apps;
try {
  scale = parseScale(process.argv.slice(2), env.APP_SCALE, appNames);
  apps = instancesOf(
    [
      { name: 'command-api', portVariable: 'COMMAND_API_PORT', port: Number(env.COMMAND_API_PORT ?? 3000), color: 36 },
      {
        name: 'projection-worker',
        portVariable: 'PROJECTION_WORKER_PORT',
        port: Number(env.PROJECTION_WORKER_PORT ?? 3002),
        color: 35,
      },
      { name: 'query-api', portVariable: 'QUERY_API_PORT', port: Number(env.QUERY_API_PORT ?? 3001), color: 33 },
    ],
    scale,
  );
} catch (error) {
  console.error(`npm start: ${error.message}`);
  process.exit(2);
}
const urlOf = (app) => `http://${host}:${app.port}`;

if (dockerEngineAvailable()) await startWithDocker();
else await startLocally();

async function startWithDocker() {
  console.log('A Docker engine answers: starting everything with Docker Compose.');
  if (apps.length > appNames.length) {
    // Each app publishes one fixed host port in docker-compose.yml, so a second instance has none.
    console.error('npm start: --scale runs local processes; with Docker Compose, see README, "Scaling out".');
    process.exit(2);
  }
  await run('docker', ['compose', ...composeEnvFile(), ...composeProfile(), 'up', '--build', '--detach', '--wait']);
  printWelcome();
  const logs = spawn(
    'docker',
    ['compose', ...composeEnvFile(), ...composeProfile(), 'logs', '--follow', '--since', '1s'],
    {
      stdio: 'inherit',
      cwd: repo,
    },
  );
  const down = once(async () => {
    logs.kill('SIGTERM');
    await run('docker', ['compose', ...composeEnvFile(), ...composeProfile(), 'down']);
    process.exit(0);
  });
  process.on('SIGINT', down);
  process.on('SIGTERM', down);
}

async function startLocally() {
  const stopKafka = await ensureKafka();
  const children = new Map();
  let stopConnect = async () => {};
  const shutdown = once(async (exitCode) => {
    console.log('\nstopping…');
    await Promise.all([...children.values()].map(stopChild));
    await stopConnect();
    await stopKafka();
    process.exit(exitCode);
  });
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  try {
    if (relay === 'debezium') {
      // The worker and, unless DATABASE_URL names your own, the logical-WAL Postgres; Ctrl-C stops
      // both, deleting the connector and dropping its slot with its offsets (kept or wiped together).
      await run('bash', ['scripts/connect.sh', 'start'], { env });
      stopConnect = once(() => run('bash', ['scripts/connect.sh', 'stop'], { env }).catch(() => undefined));
    }
    await ensurePostgres(env.DATABASE_URL);
    // A read store of its own may be on another server (migrate.js creates and migrates both databases).
    if (env.READ_DATABASE_URL) await ensurePostgres(env.READ_DATABASE_URL, 'READ_DATABASE_URL');
    await run('npm', ['run', '--silent', 'build'], { env });
    await run(process.execPath, ['dist/scripts/migrate.js'], { env });
    // The slot before the first command: a commit before it exists would never be captured.
    if (relay === 'debezium')
      await run(
        process.execPath,
        ['dist/scripts/connect-register.js', '--topic', env.ORDERS_TOPIC ?? 'orders.events'],
        {
          env,
        },
      );
    for (const app of apps)
      children.set(
        app.label,
        startApp(app, () => shutdown(1)),
      );
    await Promise.all(apps.map(waitUntilReady));
    printWelcome();
  } catch (error) {
    console.error(`\nstart failed: ${error.message}`);
    await shutdown(1);
  }
}

function startApp(app, onUnexpectedExit) {
  const child = spawn(process.execPath, ['--enable-source-maps', `dist/apps/${app.name}/src/main.js`], {
    cwd: repo,
    env: { ...env, [app.portVariable]: String(app.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const label = `\x1b[${app.color}m[${app.label}]\x1b[0m `;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => console.log(label + line));
  }
  child.exited = new Promise((resolve) => child.on('exit', resolve));
  child.on('exit', (code, signal) => {
    if (!child.stopping) {
      console.error(`${label}exited unexpectedly (${signal ?? `exit ${code}`})`);
      onUnexpectedExit();
    }
  });
  return child;
}

async function stopChild(child) {
  child.stopping = true;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await child.exited;
  clearTimeout(timer);
}

async function waitUntilReady(app) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await fetch(`${urlOf(app)}/health/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${app.label} was not ready within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function printWelcome() {
  const urls = (name, path = '') =>
    apps
      .filter((app) => app.name === name)
      .map((app) => urlOf(app) + path)
      .join('  ');
  const [command] = apps.filter((app) => app.name === 'command-api');
  const [query] = apps.filter((app) => app.name === 'query-api');
  console.log(`
  The order system is running.

    Command API        ${urls('command-api')}
    Query API          ${urls('query-api')}
    Projection worker  ${urls('projection-worker', '/health/ready')}
    Operations page    ${urlOf(query)}/admin/ui${env.ADMIN_TOKEN ? '' : '  (closed: start with ADMIN_TOKEN set to sign in)'}
    Kafka              ${env.KAFKA_BROKERS ?? '127.0.0.1:9092'}, topic ${env.ORDERS_TOPIC ?? 'orders.events'}
    Outbox relay       ${relay === 'debezium' ? `Debezium on Kafka Connect, http://127.0.0.1:${env.CONNECT_PORT ?? '8083'}/connectors` : 'in process (command API)'}

  Place an order:

    curl -i -X POST ${urlOf(command)}/orders -H 'Content-Type: application/json' \\
      -d '{"customerId":"customer-1","currency":"EUR","lines":[{"sku":"BOOK-1","quantity":2,"unitPriceMinor":1250}]}'

  then read it back:  curl ${urlOf(query)}/orders/<orderId>

  Ctrl-C stops everything this command started.
`);
}

/** With OUTBOX_RELAY=debezium, Compose adds Kafka Connect and a logical-WAL Postgres the apps use (compose/debezium.env). */
function composeProfile() {
  if (relay !== 'debezium') return [];
  // Each env file names its profile; given twice, the command line names both.
  const cluster = Number(env.KAFKA_NODES ?? 1) > 1 ? ['--profile', 'cluster'] : [];
  return ['--env-file', 'compose/debezium.env', '--profile', 'debezium', ...cluster];
}

/** With KAFKA_NODES=3, Compose runs the three-node profile (compose/cluster.env). */
function composeEnvFile() {
  return Number(env.KAFKA_NODES ?? 1) > 1 ? ['--env-file', 'compose/cluster.env'] : [];
}

function once(fn) {
  let result;
  return (...args) => (result ??= fn(...args));
}
