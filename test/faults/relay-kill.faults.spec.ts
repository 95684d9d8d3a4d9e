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
  readTopic,
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
describe('fault: relay killed between the broker\'s ack and recording its progress', () => {
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

  const start = async (app: 'command-api' | 'projection-worker', extraEnv: Record<string, string> = {}): Promise<AppProcess> => {
    const started = new AppProcess(app, env.config, undefined, extraEnv);
    processes.push(started);
    await started.ready;
    return started;
  };
  const relayEnv = { OUTBOX_RELAY_ENABLED: 'true', OUTBOX_RELAY_BATCH_SIZE: String(BATCH), OUTBOX_RELAY_POLL_MS: '100' };

  it('publishes the batch again after the kill, and the projections apply it once', async () => {
    const acknowledged = new AcknowledgedCommands();
    const stop = { done: false };
    const load = loadUntil(commandApi.getHttpServer(), 21, stop, { onAcknowledged: (orderId, version, eventType) => { acknowledged.record(orderId, version, eventType); } });
    await start('projection-worker');

    // More than one batch waits in the outbox; lock those rows so that the relay's DELETE of its first batch waits.
    await eventually(async () => {
      const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
      assert.ok((rows[0]?.n ?? 0) > 2 * BATCH, 'the outbox holds more than two batches');
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const client = new pg.Client({ connectionString: env.config.databaseUrl });
    locker.client = client;
    await client.connect();
    await client.query('BEGIN');
    const { rowCount: locked } = await client.query('SELECT position FROM outbox ORDER BY position FOR UPDATE');

    let relay = await start('command-api', relayEnv);
    const blocked = await eventually(async () => {
      const { rows } = await env.db.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM outbox%'`,
      );
      assert.equal(rows.length, 1, 'the relay waits to delete its published batch');
      return rows[0]?.pid ?? 0;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    // The broker has acknowledged the batch: it is on the topic, and still in the outbox.
    const published = await readTopic(env.kafka, env.config.kafka.ordersTopic, (records) => records.length >= BATCH);
    assert.equal(published.length, BATCH, 'exactly one batch was published before the relay blocked');
    const ids = published.map((record) => record.headers['event-id'] ?? '');
    const { rows: pending } = await env.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.event_id = ANY($1::uuid[])',
      [ids],
    );
    assert.equal(pending[0]?.n, BATCH, 'the published batch is still recorded as unpublished');

    await relay.stop('SIGKILL');
    // Postgres would still run the dead client's queued DELETE once the lock frees: end that session as the crash did.
    await env.db.query('SELECT pg_terminate_backend($1)', [blocked]);
    await eventually(async () => {
      const { rows } = await env.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked]);
      assert.equal(rows.length, 0, 'the killed relay\'s session is gone');
    }, { timeoutMs: 10_000 });
    await client.query('ROLLBACK');
    await client.end();
    locker.client = undefined;

    relay = await start('command-api', relayEnv);
    // The restarted relay catches up while clients keep going.
    await eventually(async () => {
      const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.event_id = ANY($1::uuid[])', [ids]);
      assert.equal(rows[0]?.n, 0, 'the restarted relay published the batch again');
    }, { timeoutMs: 30_000, intervalMs: 100 });
    stop.done = true;
    await load;

    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    assert.ok(figures.duplicatesOnTopic >= BATCH, `the batch was published twice (${String(figures.duplicatesOnTopic)} duplicates)`);
    reportFigure('relay-kill', {
      lockedRows: locked ?? 0,
      publishedBeforeKill: BATCH,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      duplicatesOnTopic: figures.duplicatesOnTopic,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await relay.stop();
  });
});
