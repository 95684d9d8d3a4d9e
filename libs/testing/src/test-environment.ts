import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { captureConnectorConfig, captureHeartbeatTopic, dropCaptureSlot } from '@app/event-store';
import { migrations } from '@app/migrations';
import { KafkaConnection, ensureTopics, heartbeatTopic, orderEventsTopic } from '@app/messaging';
import { ensureDatabaseExists, loadConfig, quoteIdentifier, runMigrations, type AppConfig } from '@app/platform';

import { eventually } from './eventually.js';
import { PrivateConnect } from './private-connect.js';
import { PrivatePostgres } from './private-postgres.js';

/** A Kafka Connect worker the test environment registers its capture connector on. */
export type CaptureWorker = Pick<PrivateConnect, 'register' | 'waitRunning' | 'remove'>;

/**
 * Real Postgres and real Kafka, isolated per test file: its own database, its own topic, its own
 * consumer-group prefix. Nothing is shared with other files, other runs, or a running system.
 */
export interface TestEnvironment {
  readonly id: string;
  readonly config: AppConfig;
  readonly kafka: KafkaConnection;
  /** A client on the test's event store database (DATABASE_URL), for arranging and asserting. */
  readonly db: pg.Pool;
  /**
   * A client on the test's read store (READ_DATABASE_URL): read models and projection bookkeeping.
   * The very pool of `db` unless the read store is separate.
   */
  readonly readDb: pg.Pool;
  /** Whether the read store is a database of its own (`readStore: 'separate'`). */
  readonly separateReadStore: boolean;
  /** With `capture`: the connector publishing this environment's outbox, registered and RUNNING. */
  readonly captureConnector?: string;
  dispose(): Promise<void>;
}

/** The broker's minimum: a killed member's partitions move on quickly. */
const SESSION_TIMEOUT_MS = 6_000;

/** The admin bearer token of every test environment. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestEnvironmentOptions {
  readonly partitions?: number;
  readonly relayEnabled?: boolean;
  /** A Postgres server URL other than DATABASE_URL's (a private cluster); its database name is replaced. */
  readonly databaseServerUrl?: string;
  /** Kafka brokers other than KAFKA_BROKERS (a private broker). */
  readonly kafkaBrokers?: readonly string[];
  /**
   * `separate`: the read store is a second database, `orders_read_test_<id>`, both migrated, as with
   * a READ_DATABASE_URL of its own. Default: `separate` when the environment variable
   * TEST_READ_DATABASE is `separate` (a whole tier in split mode), else `shared`.
   */
  readonly readStore?: 'shared' | 'separate';
  /**
   * A Postgres server URL for the separate read store (a private cluster); its database name is
   * replaced. Default: READ_DATABASE_URL's server when that differs from DATABASE_URL (and no
   * `databaseServerUrl` is given), else the event store's server.
   */
  readonly readDatabaseServerUrl?: string;
  /**
   * OUTBOX_RELAY=debezium: Debezium's connector on this worker publishes the outbox, with a slot and
   * connector named after the environment; the apps write `outbox_capture` and start no relay. Needs
   * `databaseServerUrl` on a server with wal_level=logical (PrivatePostgres.start({ logical: true })).
   */
  readonly capture?: CaptureWorker;
  /**
   * `in-process`: this test is about the in-process relay (or the outbox table), whatever the run's
   * OUTBOX_RELAY says. See testRelay.
   */
  readonly relay?: 'in-process';
}

/**
 * Whether an environment without `capture` gets one anyway: OUTBOX_RELAY=debezium in the test
 * runner's environment (`OUTBOX_RELAY=debezium npm test`) puts every environment that publishes
 * (relay enabled) on its default servers through Debezium, on a logical-WAL Postgres and a Connect
 * worker of the test file's own. Tests pinned to the in-process relay, tests with the relay off,
 * and tests on servers of their own (fault tests crashing them) keep the relay they chose.
 */
export function testRelay(options: TestEnvironmentOptions = {}): 'in-process' | 'debezium' {
  if (options.capture) return 'debezium';
  const mode = process.env.OUTBOX_RELAY?.trim() ?? '';
  if (mode !== '' && mode !== 'in-process' && mode !== 'debezium')
    throw new Error(`OUTBOX_RELAY must be in-process or debezium, got "${mode}"`);
  const ownServers = options.databaseServerUrl !== undefined || options.kafkaBrokers !== undefined;
  const pinned = options.relay === 'in-process' || options.relayEnabled === false || ownServers;
  return mode === 'debezium' && !pinned ? 'debezium' : 'in-process';
}

/** The logical-WAL Postgres and Connect worker of this test file, started on first use; gone at exit. */
let captureServers: Promise<{ postgres: PrivatePostgres; connect: PrivateConnect }> | undefined;
function sharedCaptureServers(
  brokers: readonly string[],
): Promise<{ postgres: PrivatePostgres; connect: PrivateConnect }> {
  // Each stops itself when the test process exits (PrivatePostgres, PrivateConnect).
  captureServers ??= Promise.all([
    PrivatePostgres.start({ logical: true }),
    PrivateConnect.start({ brokers: [...brokers] }),
  ]).then(([postgres, connect]) => {
    connect.unref(); // the test file ends when its tests do; the worker goes with the process
    return { postgres, connect };
  });
  return captureServers;
}

/** The read store of a test environment, by option, else by TEST_READ_DATABASE. */
export function testReadStore(options: Pick<TestEnvironmentOptions, 'readStore'> = {}): 'shared' | 'separate' {
  if (options.readStore) return options.readStore;
  const mode = process.env.TEST_READ_DATABASE?.trim() ?? '';
  if (mode === '' || mode === 'shared') return 'shared';
  if (mode === 'separate') return 'separate';
  throw new Error(`TEST_READ_DATABASE must be shared or separate, got "${mode}"`);
}

export async function createTestEnvironment(
  label: string,
  requested: TestEnvironmentOptions = {},
): Promise<TestEnvironment> {
  let options = requested;
  if (!requested.capture && testRelay(requested) === 'debezium') {
    const { postgres, connect } = await sharedCaptureServers(loadConfig(process.env).kafka.brokers);
    options = { ...requested, databaseServerUrl: postgres.url, capture: connect };
  }
  const runId = process.env.TEST_RUN_ID ?? randomBytes(3).toString('hex');
  const id = `${runId}_${label}_${randomBytes(3).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const base = loadConfig(process.env);
  const databaseUrl = new URL(options.databaseServerUrl ?? base.databaseUrl);
  databaseUrl.pathname = `/orders_test_${id}`;
  const separateReadStore = testReadStore(options) === 'separate';
  if (!separateReadStore && options.readDatabaseServerUrl !== undefined)
    throw new Error('readDatabaseServerUrl needs readStore: separate');
  // A run with a READ_DATABASE_URL of its own puts the separate read stores on that server, unless the
  // test put its store on a private cluster: a test that crashes that server expects both sides on it.
  const ownReadServer = base.readDatabaseUrl !== base.databaseUrl && options.databaseServerUrl === undefined;
  const readDatabaseUrl = new URL(
    options.readDatabaseServerUrl ?? (ownReadServer ? base.readDatabaseUrl : databaseUrl.toString()),
  );
  readDatabaseUrl.pathname = `/orders_read_test_${id}`;
  const config: AppConfig = {
    ...base,
    databaseUrl: databaseUrl.toString(),
    readDatabaseUrl: separateReadStore ? readDatabaseUrl.toString() : databaseUrl.toString(),
    kafka: {
      ...base.kafka,
      brokers: options.kafkaBrokers ?? base.kafka.brokers,
      clientId: `orders-test-${id}`,
      ordersTopic: `orders.events.test.${id}`,
      ordersTopicPartitions: options.partitions ?? 3,
      groupPrefix: `test.${id}.`,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
    },
    relay: {
      ...base.relay,
      mode: options.capture ? 'debezium' : 'in-process',
      captureSlot: `capture_${id}`.slice(0, 63),
      enabled: options.relayEnabled ?? true,
      pollIntervalMs: 100,
    },
    adminToken: TEST_ADMIN_TOKEN,
  };

  // Both databases carry the whole schema (one migration history, docs/adr/0011): each side uses its own tables.
  const databases = separateReadStore ? [config.databaseUrl, config.readDatabaseUrl] : [config.databaseUrl];
  for (const url of databases) {
    await ensureDatabaseExists(url);
    await runMigrations(url, migrations);
  }
  const kafka = new KafkaConnection(config.kafka);
  const topic = orderEventsTopic(config);
  await ensureTopics(kafka, [topic]);
  const db = testPool(config.databaseUrl);
  const readDb = separateReadStore ? testPool(config.readDatabaseUrl) : db;
  const capture = options.capture;
  const captureConnector = capture ? `orders-outbox-${id}` : undefined;
  const heartbeats = captureConnector ? [captureHeartbeatTopic(captureConnector)] : [];
  if (capture && captureConnector) {
    // The heartbeats must reach a topic for the slot to move while the outbox is idle (capture-connector.ts).
    await ensureTopics(kafka, heartbeats.map(heartbeatTopic));
    await capture.register(
      captureConnector,
      captureConnectorConfig({
        databaseUrl: config.databaseUrl,
        topic: topic.name,
        slotName: config.relay.captureSlot,
        connectorName: captureConnector,
      }),
    );
    await capture.waitRunning(captureConnector);
  }

  return {
    id,
    config,
    kafka,
    db,
    readDb,
    separateReadStore,
    ...(captureConnector && { captureConnector }),
    async dispose() {
      if (capture && captureConnector) {
        // Best effort, as below: a slot left behind would hold WAL, but a test that killed the
        // worker or the server may have nothing left to ask; dropping the database fails loudly then.
        await capture.remove(captureConnector).catch(() => undefined);
        await eventually(() => dropCaptureSlot(db, config.relay.captureSlot), { timeoutMs: 30_000 }).catch(
          () => undefined,
        );
      }
      await db.end();
      if (readDb !== db) await readDb.end();
      // Best effort: a broker a fault test killed may not answer, and the databases must still go.
      await deleteKafkaLeftovers(
        kafka,
        [topic.name, `${topic.name}.dlq`, ...heartbeats],
        config.kafka.groupPrefix,
      ).catch(() => undefined);
      for (const url of databases) await dropDatabase(url);
    },
  };
}

function testPool(databaseUrl: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  // An idle client's connection dropped by a fault test's database restart is harmless: the pool replaces it.
  pool.on('error', () => undefined);
  return pool;
}

async function dropDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const maintenance = new URL(databaseUrl);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(url.pathname.slice(1))} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/**
 * Deletes the environment's topics and those named after them (only those that exist: kafkajs retries
 * a delete of an unknown topic for seconds) and every consumer group under its prefix: projections', replays', tests' own. A
 * member that was killed stays in its group until its session times out, and a group with members
 * cannot be deleted, so this waits for such groups to empty, within twice the session timeout.
 */
async function deleteKafkaLeftovers(
  kafka: KafkaConnection,
  topics: readonly string[],
  groupPrefix: string,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    // And topics a test named after the environment's own (`<topic>.<label>`): nothing of the run stays.
    const ours = [...existing].filter((name) => topics.some((topic) => name === topic || name.startsWith(`${topic}.`)));
    if (ours.length > 0) await admin.deleteTopics({ topics: ours });
    await eventually(
      async () => {
        const groups = (await admin.listGroups()).groups
          .map((group) => group.groupId)
          .filter((id) => id.startsWith(groupPrefix));
        if (groups.length > 0) await admin.deleteGroups(groups);
      },
      { timeoutMs: 2 * SESSION_TIMEOUT_MS + 5_000, intervalMs: 500 },
    );
  } finally {
    await admin.disconnect();
  }
}
