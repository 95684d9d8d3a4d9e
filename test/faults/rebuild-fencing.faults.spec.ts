import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type pg from 'pg';
import request from 'supertest';

import { CommandApiModule } from '@app/command-api';
import { LIVE_GENERATION_LOCK, REBUILD_OWNER_LOCK, type RebuildRecord } from '@app/projections';
import { QueryApiModule } from '@app/query-api';
import {
  AcknowledgedCommands,
  AppProcess,
  TEST_ADMIN_TOKEN,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  reportFigure,
  seedEventStore,
  seededRandom,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const SEEDED_ORDERS = 3_000;
const THIS_DATABASE = '(SELECT oid FROM pg_database WHERE datname = current_database())';
/** "About a second", with room for a busy 2-core machine. */
const NOTICE_WITHIN_MS = 2_000;

/**
 * Scenario: one owner per rebuild, fenced (issue 12, point 5). Under load, the backend of the
 * session holding a worker's rebuild owner lock is terminated (as a dropped connection, a Postgres
 * failover or an operator's pg_terminate_backend would): the rebuild stops on its own, drops the
 * generation it built, and never switches, although nothing holds it back any more. Then a cancel
 * that reaches a rebuild waiting at its switch answers 202, and that rebuild ends cancelled. A third
 * rebuild switches. The live generation serves every read throughout.
 */
describe('fault: a rebuild that loses its owner lock, and a cancel racing a switch', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  let queryApi: TestApp;
  let worker: AppProcess;
  const holders: pg.PoolClient[] = [];
  const stop = { done: false };

  before(async () => {
    env = await createTestEnvironment('rebuild_fencing', { partitions: 6 });
    [commandApi, queryApi] = await Promise.all([
      startTestApp(CommandApiModule, env.config),
      startTestApp(QueryApiModule, env.config),
    ]);
    // The worker that runs the rebuilds as a process of its own, so that its log can be read.
    worker = new AppProcess('projection-worker', env.config);
    await worker.ready;
  });

  after(async () => {
    stop.done = true; // a failed assertion leaves the load running otherwise
    for (const holder of holders.splice(0)) holder.release(true);
    await worker.stop('SIGKILL');
    await Promise.all([commandApi.close(), queryApi.close()]);
    await env.dispose();
  });

  const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const liveSchema = async (): Promise<string> =>
    (
      await env.readDb.query<{ schema_name: string }>(
        "SELECT schema_name FROM projection_generations WHERE projection = 'order-view'",
      )
    ).rows[0]?.schema_name ?? '';
  const schemaExists = async (schema: string): Promise<boolean> =>
    (await env.readDb.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rows.length > 0;
  const rebuild = async (id: string): Promise<RebuildRecord> => {
    const response = await request(queryApi.getHttpServer())
      .get(`/admin/projections/order-view/rebuilds/${id}`)
      .set(admin)
      .expect(200);
    return (response.body as { rebuild: RebuildRecord }).rebuild;
  };
  const requestRebuild = async (): Promise<string> => {
    const response = await request(queryApi.getHttpServer())
      .post('/admin/projections/order-view/rebuild')
      .set(admin)
      .expect(202);
    return (response.body as { rebuild: RebuildRecord }).rebuild.id;
  };
  /** Holds the live writers' lock as a long batch would: a rebuild can fill, but not switch, until it is released. */
  const holdLiveWriters = async (): Promise<pg.PoolClient> => {
    const holder = await env.readDb.connect();
    holders.push(holder);
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'order-view']);
    return holder;
  };
  const release = async (holder: pg.PoolClient): Promise<void> => {
    await holder.query('COMMIT');
    holders.splice(holders.indexOf(holder), 1);
    holder.release();
  };
  const ownerPid = async (id: string): Promise<number | undefined> =>
    (
      await env.readDb.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted AND database = ${THIS_DATABASE}`,
        [REBUILD_OWNER_LOCK, Number(id)],
      )
    ).rows[0]?.pid;

  it('stops a rebuild whose owner session is terminated before it can switch; a cancelled one never switches; the next one does', async () => {
    assert.equal(await seedEventStore(env.db, SEEDED_ORDERS), SEEDED_ORDERS * 4);
    await eventually(
      async () => {
        const { rows } = await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM order_view');
        assert.equal(rows[0]?.n, SEEDED_ORDERS, 'the live generation serves every seeded order');
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const original = await liveSchema();

    const acknowledged = new AcknowledgedCommands();
    const writer = loadUntil(commandApi.getHttpServer(), 12, stop, {
      clients: 1,
      pauseMs: 100,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    const failures: string[] = [];
    let reads = 0;
    const readers = Array.from({ length: 2 }, async (_, reader) => {
      const pick = seededRandom(300 + reader);
      while (!stop.done) {
        for (const path of [
          '/orders?limit=20',
          `/customers/seeded-customer-${String(Math.floor(pick() * 500))}`,
          '/stats/sales?granularity=1h',
        ]) {
          const response = await request(queryApi.getHttpServer()).get(path);
          reads++;
          if (response.status !== 200) failures.push(`GET ${path}: ${String(response.status)} ${response.text}`);
        }
      }
    });

    // 1. The owner's session is terminated while its rebuild fills; nothing stops it from switching afterwards but its fence.
    // Its fill is held at its first batch, whatever the machine's speed: every batch reads the
    // operators' decisions, and the test holds that table. Its consumer runs and its owner checks beat on.
    const lockedOut = await holdLiveWriters();
    const fillHeld = await env.readDb.connect();
    holders.push(fillHeld);
    await fillHeld.query('BEGIN');
    await fillHeld.query('LOCK TABLE public.projection_decisions IN ACCESS EXCLUSIVE MODE');
    const terminatedId = await requestRebuild();
    const { pid, schema: terminatedSchema } = await eventually(
      async () => {
        const record = await rebuild(terminatedId);
        const owner = await ownerPid(terminatedId);
        assert.ok(
          record.state === 'running' && record.schemaName !== null && owner !== undefined,
          'the worker runs the rebuild and has created its generation',
        );
        // A batch of the fill: it holds its generation's offset row and waits for the decisions.
        const { rows } = await env.readDb.query<{ waiting: boolean }>(
          `SELECT EXISTS (
           SELECT 1 FROM pg_locks w JOIN pg_locks b ON b.pid = w.pid AND b.granted JOIN pg_class c ON c.oid = b.relation JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE w.locktype = 'relation' AND w.relation = 'public.projection_decisions'::regclass AND NOT w.granted
              AND w.database = ${THIS_DATABASE} AND b.database = w.database AND n.nspname = $1) AS waiting`,
          [record.schemaName],
        );
        assert.equal(rows[0]?.waiting, true, "the rebuild's fill waits at its first batch");
        return { pid: owner, schema: record.schemaName };
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    const terminatedAt = Date.now();
    const { rows: terminated } = await env.db.query<{ done: boolean }>('SELECT pg_terminate_backend($1) AS done', [
      pid,
    ]);
    assert.equal(terminated[0]?.done, true);
    await release(fillHeld);
    await release(lockedOut);
    const noticedAfterMs = await eventually(
      () => {
        assert.ok(
          worker.log.some(
            (line) => line.includes(`Rebuild order-view#${terminatedId}`) && line.includes('lost its owner lock'),
          ),
          'the rebuild noticed on its own',
        );
        return Date.now() - terminatedAt;
      },
      { timeoutMs: 10_000, intervalMs: 10 },
    );
    assert.ok(noticedAfterMs <= NOTICE_WITHIN_MS, `noticed after ${String(noticedAfterMs)} ms`);
    const failed = await eventually(
      async () => {
        const record = await rebuild(terminatedId);
        assert.equal(record.state, 'failed');
        return record;
      },
      { timeoutMs: 60_000 },
    );
    assert.match(failed.error ?? '', /lost its owner lock/);
    assert.equal(await schemaExists(terminatedSchema), false, 'it dropped the generation it built');
    assert.equal(await liveSchema(), original, 'no switch happened');

    // 2. A cancel reaches a rebuild that waits at its switch: the cancel waits for the switch's row lock, then wins.
    const heldAtSwitch = await holdLiveWriters();
    const cancelledId = await requestRebuild();
    const cancelledSchema = await eventually(
      async () => {
        const { rows } = await env.readDb.query<{ waiting: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND mode = 'ExclusiveLock' AND NOT granted AND database = ${THIS_DATABASE}) AS waiting`,
          [LIVE_GENERATION_LOCK],
        );
        assert.equal(rows[0]?.waiting, true, 'the rebuild has filled its generation and waits to switch');
        return (await rebuild(cancelledId)).schemaName ?? '';
      },
      { timeoutMs: 120_000, intervalMs: 20 },
    );
    const cancel = await request(queryApi.getHttpServer())
      .post(`/admin/projections/order-view/rebuilds/${cancelledId}/cancel`)
      .set(admin);
    assert.equal(cancel.status, 202, cancel.text);
    assert.equal((cancel.body as { rebuild: RebuildRecord }).rebuild.cancelRequested, true);
    await release(heldAtSwitch);
    await eventually(
      async () => {
        assert.equal((await rebuild(cancelledId)).state, 'cancelled');
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(await liveSchema(), original, 'the cancelled rebuild never switched');
    assert.equal(await schemaExists(cancelledSchema), false);
    const late = await request(queryApi.getHttpServer())
      .post(`/admin/projections/order-view/rebuilds/${cancelledId}/cancel`)
      .set(admin);
    assert.equal(late.status, 409, 'a finished rebuild cannot be cancelled');

    // 3. Nothing is left in the way of the next rebuild.
    const nextId = await requestRebuild();
    const switched = await eventually(
      async () => {
        const record = await rebuild(nextId);
        assert.equal(record.state, 'switched', record.error ?? record.state);
        return record;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    assert.equal(await liveSchema(), switched.schemaName);
    // The replaced generation is dropped after the switch commits (readers have moved by then), not in it.
    await eventually(
      async () => {
        assert.equal(await schemaExists(original), false, 'the generation it replaced is dropped');
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );

    stop.done = true;
    await Promise.all([writer, ...readers]);
    assert.deepEqual(failures.slice(0, 5), [], 'no read failed');
    assert.ok(reads > 20, `only ${String(reads)} reads happened around the rebuilds`);
    const { rows: switches } = await env.readDb.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM projection_rebuilds WHERE state = 'switched' AND id = ANY($1::bigint[])",
      [[terminatedId, cancelledId]],
    );
    const switchesAfterLostLockOrCancel = switches[0]?.n;
    assert.equal(switchesAfterLostLockOrCancel, 0);
    const figures = await assertGuarantees(env, acknowledged);
    reportFigure('rebuild-fencing', {
      eventsInLog: figures.events,
      reads,
      failedReads: failures.length,
      ownerLossNoticedAfterMs: noticedAfterMs,
      itsSchemaDropped: true,
      cancelAnswered: cancel.status,
      switchesAfterLostLockOrCancel,
      nextRebuildSwitched: true,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
  });
});
