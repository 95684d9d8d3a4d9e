import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { migrations } from '@app/migrations';
import { KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { ensureDatabaseExists, loadConfig, quoteIdentifier, runMigrations, type AppConfig } from '@app/platform';

import { eventually } from './eventually.js';

/**
 * Real Postgres and real Kafka, isolated per test file: its own database, its own topic, its own
 * consumer-group prefix. Nothing is shared with other files, other runs, or a running system.
 */
export interface TestEnvironment {
  readonly id: string;
  readonly config: AppConfig;
  readonly kafka: KafkaConnection;
  /** A client on the test database, for arranging and asserting. */
  readonly db: pg.Pool;
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
}

export async function createTestEnvironment(
  label: string,
  options: TestEnvironmentOptions = {},
): Promise<TestEnvironment> {
  const runId = process.env.TEST_RUN_ID ?? randomBytes(3).toString('hex');
  const id = `${runId}_${label}_${randomBytes(3).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const base = loadConfig(process.env);
  const databaseUrl = new URL(options.databaseServerUrl ?? base.databaseUrl);
  databaseUrl.pathname = `/orders_test_${id}`;
  const config: AppConfig = {
    ...base,
    databaseUrl: databaseUrl.toString(),
    kafka: {
      ...base.kafka,
      brokers: options.kafkaBrokers ?? base.kafka.brokers,
      clientId: `orders-test-${id}`,
      ordersTopic: `orders.events.test.${id}`,
      ordersTopicPartitions: options.partitions ?? 3,
      groupPrefix: `test.${id}.`,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
    },
    relay: { ...base.relay, enabled: options.relayEnabled ?? true, pollIntervalMs: 100 },
    adminToken: TEST_ADMIN_TOKEN,
  };

  await ensureDatabaseExists(config.databaseUrl);
  await runMigrations(config.databaseUrl, migrations);
  const kafka = new KafkaConnection(config.kafka);
  const topic = orderEventsTopic(config);
  await ensureTopics(kafka, [topic]);
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 4 });
  // An idle client's connection dropped by a fault test's database restart is harmless: the pool replaces it.
  db.on('error', () => undefined);

  return {
    id,
    config,
    kafka,
    db,
    async dispose() {
      await db.end();
      // Best effort: a broker a fault test killed may not answer, and the database must still go.
      await deleteKafkaLeftovers(kafka, [topic.name, `${topic.name}.dlq`], config.kafka.groupPrefix).catch(
        () => undefined,
      );
      const maintenance = new URL(config.databaseUrl);
      maintenance.pathname = '/postgres';
      const client = new pg.Client({ connectionString: maintenance.toString() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(databaseUrl.pathname.slice(1))} WITH (FORCE)`);
      await client.end();
    },
  };
}

/**
 * Deletes the environment's topics (those that exist: kafkajs retries a delete of an unknown topic
 * for seconds) and every consumer group under its prefix: projections', replays', tests' own. A
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
    const ours = topics.filter((topic) => existing.has(topic));
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
