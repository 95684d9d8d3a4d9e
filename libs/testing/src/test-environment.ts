import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { migrations } from '@app/migrations';
import { KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { ensureDatabaseExists, loadConfig, quoteIdentifier, runMigrations, type AppConfig } from '@app/platform';

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

export async function createTestEnvironment(label: string, options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
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
      sessionTimeoutMs: 6_000, // the broker's minimum: a killed member's partitions move on quickly
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
      const admin = kafka.admin();
      await admin
        .connect()
        .then(() => admin.deleteTopics({ topics: [topic.name, `${topic.name}.dlq`] }))
        .catch(() => undefined)
        .finally(() => admin.disconnect());
      const maintenance = new URL(config.databaseUrl);
      maintenance.pathname = '/postgres';
      const client = new pg.Client({ connectionString: maintenance.toString() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(databaseUrl.pathname.slice(1))} WITH (FORCE)`);
      await client.end();
    },
  };
}
