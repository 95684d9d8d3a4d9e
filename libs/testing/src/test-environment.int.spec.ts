import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import { AppProcess } from './app-process.js';
import { eventually } from './eventually.js';
import { readTopic, readTopicToEnd } from './kafka-reader.js';
import { createTestEnvironment, type TestEnvironment } from './test-environment.js';

/** Consumer groups and topics on the broker, now. */
async function onBroker(env: TestEnvironment): Promise<{ groups: string[]; topics: string[] }> {
  const admin = env.kafka.admin();
  await admin.connect();
  try {
    const [{ groups }, topics] = await Promise.all([admin.listGroups(), admin.listTopics()]);
    return { groups: groups.map((group) => group.groupId), topics };
  } finally {
    await admin.disconnect();
  }
}

describe('a test environment leaves nothing on the broker', () => {
  let env: TestEnvironment;
  let worker: AppProcess | undefined;
  let disposed = false;

  before(async () => {
    env = await createTestEnvironment('leftovers', { relay: 'in-process' });
  });

  after(async () => {
    await worker?.stop('SIGKILL');
    if (!disposed) await env.dispose();
  });

  it('deletes every consumer group under its prefix, even one whose member was killed, and its topics', async () => {
    const prefix = env.config.kafka.groupPrefix;
    const topic = env.config.kafka.ordersTopic;
    const ours = (groups: readonly string[]): string[] =>
      groups.filter((group) => group.startsWith(prefix) || group.includes(topic)).sort();

    // The readers delete their throwaway groups themselves.
    await readTopic(env.kafka, topic, () => true);
    await readTopicToEnd(env.kafka, topic);
    assert.deepEqual(ours((await onBroker(env)).groups), [], 'no reader group remains');

    // A projection worker joins one group per projection, and is killed: its member stays until its session expires.
    worker = new AppProcess('projection-worker', env.config);
    await worker.ready;
    const joined = await eventually(
      async () => {
        const groups = ours((await onBroker(env)).groups);
        assert.ok(groups.length >= 3, `the worker's groups: ${groups.join(', ')}`);
        return groups;
      },
      { timeoutMs: 30_000 },
    );
    await worker.stop('SIGKILL');
    worker = undefined;

    await env.dispose();
    disposed = true;

    const left = await onBroker(env);
    assert.deepEqual(ours(left.groups), [], `groups left of ${joined.join(', ')}`);
    assert.deepEqual(
      left.topics.filter((name) => name.startsWith(topic)),
      [],
      'the topic and its dead-letter topic are deleted',
    );
  });
});

/** Whether the server of `databaseUrl` has the database it names. */
async function databaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

describe('a test environment with a separate read store', () => {
  it('makes a second database, migrated like the first, reached through readDb, and drops both', async () => {
    const env = await createTestEnvironment('separate_read', { readStore: 'separate', relayEnabled: false });
    let disposed = false;
    try {
      assert.equal(env.separateReadStore, true);
      assert.notEqual(env.readDb, env.db);
      assert.match(new URL(env.config.readDatabaseUrl).pathname, /^\/orders_read_test_/);
      assert.match(new URL(env.config.databaseUrl).pathname, /^\/orders_test_/);
      const migrated = 'SELECT count(*)::int AS n FROM typeorm_migrations';
      const [store, read] = await Promise.all([
        env.db.query<{ n: number }>(migrated),
        env.readDb.query<{ n: number }>(migrated),
      ]);
      assert.ok((store.rows[0]?.n ?? 0) > 0);
      assert.equal(read.rows[0]?.n, store.rows[0]?.n, 'one migration history, applied to each');
      const { rows: here } = await env.readDb.query<{ db: string }>('SELECT current_database() AS db');
      assert.equal(here[0]?.db, new URL(env.config.readDatabaseUrl).pathname.slice(1));

      await env.dispose();
      disposed = true;
      assert.equal(await databaseExists(env.config.databaseUrl), false, 'the event store database is dropped');
      assert.equal(await databaseExists(env.config.readDatabaseUrl), false, 'the read store database is dropped');
    } finally {
      if (!disposed) await env.dispose();
    }
  });

  it('shares one database, and one pool, by default', async () => {
    const previous = process.env.TEST_READ_DATABASE;
    delete process.env.TEST_READ_DATABASE;
    const env = await createTestEnvironment('shared_read', { relayEnabled: false });
    if (previous !== undefined) process.env.TEST_READ_DATABASE = previous;
    try {
      assert.equal(env.separateReadStore, false);
      assert.equal(env.readDb, env.db);
      assert.equal(env.config.readDatabaseUrl, env.config.databaseUrl);
    } finally {
      await env.dispose();
    }
  });
});
