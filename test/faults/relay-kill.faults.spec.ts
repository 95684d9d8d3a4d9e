import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import { CommandApiModule } from '@app/command-api';
import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  readTopicToEnd,
  reportFigure,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const BATCH = 50;

/**
 * Scenario 2: the outbox relay is killed after the broker acknowledged a batch and before it recorded
 * that (the DELETE of the batch's outbox rows). The test holds row locks on the outbox, so the relay
 * publishes, gets the ack, and then waits on its DELETE: the kill lands exactly in that window. The
 * restarted relay publishes the batch again; the projections must skip the duplicates.
 *
 * Clients use a command API of their own whose relay is off, so the load goes on throughout; the relay
 * under test runs in a command API process.
 */
describe("fault: relay killed between the broker's ack and recording its progress", () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  const processes: AppProcess[] = [];
  const locker = { client: undefined as pg.Client | undefined };

  before(async () => {
    env = await createTestEnvironment('relay_kill', { partitions: 3, relayEnabled: false });
    commandApi = await startTestApp(CommandApiModule, env.config);
  });

  after(async () => {
    await locker.client?.end().catch(() => undefined);
    await Promise.all(processes.splice(0).map((app) => app.stop('SIGKILL')));
    await commandApi.close();
    await env.dispose();
  });

  const start = async (
    app: 'command-api' | 'projection-worker',
    extraEnv: Record<string, string> = {},
  ): Promise<AppProcess> => {
    const started = new AppProcess(app, env.config, undefined, extraEnv);
    processes.push(started);
    await started.ready;
    return started;
  };
  const relayEnv = {
    OUTBOX_RELAY_ENABLED: 'true',
    OUTBOX_RELAY_BATCH_SIZE: String(BATCH),
    OUTBOX_RELAY_POLL_MS: '100',
  };

  it('publishes the batch again after the kill, and the projections apply it once', async () => {
    const acknowledged = new AcknowledgedCommands();
    const stop = { done: false };
    const load = loadUntil(commandApi.getHttpServer(), 21, stop, {
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    await start('projection-worker');

    // More than one batch waits in the outbox; lock those rows so that the relay's DELETE of its first batch waits.
    await eventually(
      async () => {
        const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
        assert.ok((rows[0]?.n ?? 0) > 2 * BATCH, 'the outbox holds more than two batches');
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const client = new pg.Client({ connectionString: env.config.databaseUrl });
    locker.client = client;
    await client.connect();
    await client.query('BEGIN');
    const { rowCount: locked } = await client.query('SELECT position FROM outbox ORDER BY position FOR UPDATE');
    assert.ok((locked ?? 0) > 2 * BATCH, `the test locked ${String(locked)} outbox rows, more than two batches`);

    let relay = await start('command-api', relayEnv);
    const blocked = await eventually(
      async () => {
        const { rows } = await env.db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM outbox%'`,
        );
        assert.equal(rows.length, 1, 'the relay waits to delete its published batch');
        return rows[0]?.pid ?? 0;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    // The broker has acknowledged the batch: it is on the topic, and still in the outbox. The relay
    // waits on its DELETE, so nothing writes to the topic: read all of it, to see any extra record.
    const { records: published } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
    assert.equal(
      published.length,
      BATCH,
      'exactly one batch, and nothing else, was published before the relay blocked',
    );
    const ids = published.map((record) => record.headers['event-id'] ?? '');
    assert.equal(new Set(ids).size, BATCH, 'the batch holds each event once');
    // …and it is the head of the outbox, still recorded as unpublished.
    const { rows: head } = await env.db.query<{ event_id: string }>(
      'SELECT e.event_id::text FROM outbox o JOIN events e USING (position) ORDER BY o.position LIMIT $1',
      [BATCH],
    );
    assert.deepEqual(
      head.map((row) => row.event_id).sort(),
      [...ids].sort(),
      "the published batch is the outbox's first, still unpublished",
    );

    await relay.stop('SIGKILL');
    // Postgres would still run the dead client's queued DELETE once the lock frees: end that session as the crash did.
    await env.db.query('SELECT pg_terminate_backend($1)', [blocked]);
    await eventually(
      async () => {
        const { rows } = await env.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked]);
        assert.equal(rows.length, 0, "the killed relay's session is gone");
      },
      { timeoutMs: 10_000 },
    );
    await client.query('ROLLBACK');
    await client.end();
    locker.client = undefined;

    relay = await start('command-api', relayEnv);
    // The restarted relay catches up while clients keep going.
    await eventually(
      async () => {
        const { rows } = await env.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.event_id = ANY($1::uuid[])',
          [ids],
        );
        assert.equal(rows[0]?.n, 0, 'the restarted relay published the batch again');
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    stop.done = true;
    await load;

    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    // Exactly the batch the killed relay could not record went out twice; nothing else did.
    const { records: onTopic } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
    const copies = new Map<string, number>();
    for (const record of onTopic)
      copies.set(record.headers['event-id'] ?? '', (copies.get(record.headers['event-id'] ?? '') ?? 0) + 1);
    const twice = [...copies].filter(([, n]) => n === 2).map(([id]) => id);
    assert.deepEqual(
      [...copies.values()].filter((n) => n > 2),
      [],
      'no event was published more than twice',
    );
    assert.deepEqual(
      twice.sort(),
      [...ids].sort(),
      'the events published twice are exactly the batch the killed relay could not record',
    );
    assert.equal(figures.duplicatesOnTopic, BATCH, 'the topic holds exactly one batch of duplicates');
    reportFigure('relay-kill', {
      lockedRows: locked ?? 0,
      publishedBeforeKill: published.length,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      duplicatesOnTopic: figures.duplicatesOnTopic,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await relay.stop();
  });
});
