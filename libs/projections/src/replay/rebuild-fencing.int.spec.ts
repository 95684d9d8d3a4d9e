import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import type { DataSource } from 'typeorm';

import { EventPublisher, encodeEnvelope, orderEventsTopic, type EventEnvelope } from '@app/messaging';
import { createDataSource } from '@app/platform';
import { createTestEnvironment, eventually, type TestEnvironment } from '@app/testing';

import { LIVE_GENERATION_LOCK } from '../generations.js';
import { orderViewProjection } from '../order-view.projection.js';
import { ProjectionRebuilder, type ReplayContext } from './projection-rebuilder.js';
import { REBUILD_OWNER_LOCK, RebuildOwner, RebuildOwnerLost, ownerLockHeld } from './rebuild-owner.js';
import { RebuildAlreadyActive, RebuildRecords, type RebuildRecord } from './rebuild-records.js';

const THIS_DATABASE = '(SELECT oid FROM pg_database WHERE datname = current_database())';
const REQUEST = { projection: 'order-view', version: 1, requestedBy: 'test', reason: 'test' } as const;

function placed(orderId: string): EventEnvelope {
  return {
    eventId: randomUUID(),
    type: 'OrderPlaced',
    schemaVersion: 1,
    streamId: orderId,
    version: 1,
    occurredAt: '2026-11-24T10:00:00.000Z',
    data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }] },
  };
}

/**
 * One owner per rebuild (ADR 7): the claim and the owner lock are one transaction, a rebuild that
 * loses its session stops and drops only what it built, no request abandons a rebuild that holds its
 * lock, and a cancel and a switch happen in one order, the row lock deciding which.
 */
describe('rebuild fencing', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let context: ReplayContext;
  let records: RebuildRecords;
  const clients: pg.Client[] = [];

  before(async () => {
    env = await createTestEnvironment('rebuild_fencing');
    dataSource = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'fencing-test' });
    context = {
      dataSource,
      kafka: env.kafka,
      topic: env.config.kafka.ordersTopic,
      groupPrefix: env.config.kafka.groupPrefix,
    };
    records = new RebuildRecords(dataSource);
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    await publisher.publish(
      Array.from({ length: 300 }, () => encodeEnvelope(placed(randomUUID()), { correlationId: 'c', causationId: 'c' })),
    );
    await publisher.close();
  });

  after(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await dataSource.destroy();
    await env.dispose();
  });

  const connect = async (): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: env.config.readDatabaseUrl });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    return client;
  };
  const liveSchema = async (): Promise<string> =>
    (
      await env.readDb.query<{ schema_name: string }>(
        `SELECT schema_name FROM projection_generations WHERE projection = 'order-view'`,
      )
    ).rows[0]?.schema_name ?? '';
  const schemaExists = async (schema: string): Promise<boolean> =>
    (await env.readDb.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rows.length > 0;
  const ownerPid = async (id: string): Promise<number> => {
    const { rows } = await env.readDb.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted AND database = ${THIS_DATABASE}`,
      [REBUILD_OWNER_LOCK, Number(id)],
    );
    assert.ok(rows[0], `rebuild ${id} has an owner`);
    return rows[0].pid;
  };
  /** Sessions of this database waiting for a lock that backend `pid` holds. */
  const blockedBehind = async (pid: number): Promise<number> =>
    (
      await env.readDb.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))',
        [pid],
      )
    ).rows[0]?.n ?? 0;
  /** Holds the live writers' lock as a long batch would: a rebuild fills, then waits at its switch. */
  const holdLiveWriters = async (): Promise<pg.Client> => {
    const holder = await connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'order-view']);
    return holder;
  };
  /** The running rebuild, once its switch waits for the live writers (holding the rebuild's row). */
  const parkedAtSwitch = (): Promise<RebuildRecord & { schemaName: string }> =>
    eventually(
      async () => {
        const { rows } = await env.readDb.query<{ waiting: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND mode = 'ExclusiveLock' AND NOT granted AND database = ${THIS_DATABASE}) AS waiting`,
          [LIVE_GENERATION_LOCK],
        );
        assert.equal(rows[0]?.waiting, true, 'the rebuild has filled its generation and waits to switch');
        const active = await records.active('order-view');
        assert.ok(active?.schemaName);
        return { ...active, schemaName: active.schemaName };
      },
      { timeoutMs: 60_000 },
    );

  it('claims a requested rebuild and takes its owner lock in one transaction: nobody sees it running unowned', async () => {
    const requested = await records.request(REQUEST);
    // Another session holds the lock the claim needs, so the claim stops between its update and its commit.
    const blocker = await connect();
    const { rows } = await blocker.query<{ pid: number }>(
      'SELECT pg_backend_pid() AS pid, pg_advisory_lock($1, $2::int)',
      [REBUILD_OWNER_LOCK, Number(requested.id)],
    );
    const owner = await RebuildOwner.open(dataSource);
    const claim = records.claimRequested(owner, ['order-view']);
    await eventually(async () => {
      assert.equal(await blockedBehind(rows[0]!.pid), 1, 'the claim waits for the owner lock');
    });

    assert.equal(
      (await records.find(requested.id))?.state,
      'requested',
      'until the claim commits, the rebuild is requested',
    );
    const competing = records.request(REQUEST).then(
      () => undefined,
      (error: unknown) => error,
    );
    await eventually(async () => {
      assert.equal(await blockedBehind(owner.pid), 1, 'a request made meanwhile waits for the claim');
    });
    await blocker.query('SELECT pg_advisory_unlock($1, $2::int)', [REBUILD_OWNER_LOCK, Number(requested.id)]);

    const claimed = await claim;
    assert.equal(claimed?.state, 'running');
    assert.equal(
      await ownerLockHeld(dataSource.manager, requested.id, owner.pid),
      true,
      'its owner lock is held by the owner session',
    );
    const refused = await competing;
    assert.ok(
      refused instanceof RebuildAlreadyActive,
      `the competing request was refused, not turned into an abandonment: ${String(refused)}`,
    );
    assert.equal(refused.active.state, 'running');

    // Once the owner's session ends, the lock goes with it: the next request abandons the rebuild.
    await owner.close();
    const next = await records.request(REQUEST);
    const abandoned = await records.find(requested.id);
    assert.deepEqual([abandoned?.state, /abandoned/.test(abandoned?.error ?? '')], ['failed', true]);
    assert.equal((await records.requestCancel(next.id))?.state, 'cancelled');
  });

  it('lets only the owner session of a running, uncancelled rebuild act for it', async () => {
    const owner = await RebuildOwner.open(dataSource);
    const other = await RebuildOwner.open(dataSource);
    try {
      const record = await records.requestRunning(owner, REQUEST);
      const standing = (session: RebuildOwner): Promise<string> =>
        session.transaction((db) => records.fence(db, record.id, session.pid));
      assert.equal(await standing(owner), 'held');
      assert.equal(await standing(other), 'lock-lost');
      await assert.rejects(records.requestRunning(other, REQUEST), RebuildAlreadyActive);
      assert.equal((await records.requestCancel(record.id))?.cancelRequested, true);
      assert.equal(await standing(owner), 'cancel-requested');
      assert.equal(await records.finish(record.id, 'cancelled'), true);
      assert.equal(await standing(owner), 'not-running');
      assert.equal(await records.finish(record.id, 'failed', 'late'), false, 'an ended rebuild is never overwritten');
      assert.equal((await records.find(record.id))?.state, 'cancelled');
    } finally {
      await Promise.all([owner.close(), other.close()]);
    }
  });

  it('notices at once when its idle owner session is terminated', async () => {
    const owner = await RebuildOwner.open(dataSource);
    await env.readDb.query('SELECT pg_terminate_backend($1)', [owner.pid]);
    await eventually(
      () => {
        assert.notEqual(owner.lost, undefined, "the session's end was noticed without a query");
      },
      { timeoutMs: 1_000, intervalMs: 10 },
    );
    await assert.rejects(owner.verify('1'), RebuildOwnerLost);
    await owner.close();
  });

  it('stops trusting a live session that no longer holds the lock, and ends it', async () => {
    const owner = await RebuildOwner.open(dataSource);
    const record = await records.requestRunning(owner, REQUEST);
    await owner.verify(record.id);
    await owner.manager.query('SELECT pg_advisory_unlock($1, $2::int)', [REBUILD_OWNER_LOCK, Number(record.id)]);
    await assert.rejects(owner.verify(record.id), /no longer holds the lock/);
    await eventually(async () => {
      const { rows } = await env.readDb.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [owner.pid]);
      assert.equal(rows.length, 0, 'the session it stopped trusting is closed');
    });
    await records.request(REQUEST).then((next) => records.requestCancel(next.id));
    assert.equal((await records.find(record.id))?.state, 'failed', 'the next request abandoned it');
  });

  it('never abandons a rebuild that holds its lock; one whose owner session is terminated stops on its own, drops its generation and never switches', async () => {
    const served = await liveSchema();
    const holder = await holdLiveWriters();
    const run = new ProjectionRebuilder(context).rebuild(orderViewProjection, 'test', 'test');
    const parked = await parkedAtSwitch();
    await assert.rejects(records.request(REQUEST), RebuildAlreadyActive);
    assert.equal(await schemaExists(parked.schemaName), true, "a request left the running rebuild's generation alone");

    await env.readDb.query('SELECT pg_terminate_backend($1)', [await ownerPid(parked.id)]);
    // Free to switch now, were it not fenced.
    await holder.query('COMMIT');
    const ended = await run;
    assert.equal(ended.state, 'failed');
    assert.match(ended.error ?? '', /lost its owner lock/);
    assert.equal(await liveSchema(), served, 'no switch happened');
    assert.equal(await schemaExists(parked.schemaName), false, 'it dropped the generation it built');
    assert.equal(await schemaExists(served), true);
  });

  it('makes a cancel that arrives during a switch wait for it, then answer that there is nothing to cancel', async () => {
    const holder = await holdLiveWriters();
    const run = new ProjectionRebuilder(context).rebuild(orderViewProjection, 'test', 'test');
    const parked = await parkedAtSwitch();
    const pid = await ownerPid(parked.id);
    const cancel = records.requestCancel(parked.id);
    await eventually(async () => {
      assert.equal(await blockedBehind(pid), 1, "the cancel waits for the switch's row lock");
    });
    await holder.query('COMMIT');

    const ended = await run;
    assert.equal(ended.state, 'switched', ended.error ?? '');
    assert.equal(await cancel, undefined, 'the cancel found the rebuild switched: the API answers 409');
    assert.equal(await liveSchema(), ended.schemaName);
    assert.equal(ended.cancelRequested, false);
  });

  it('stops a switch once a cancel went through: the rebuild ends cancelled and the live generation stays', async () => {
    const served = await liveSchema();
    const holder = await holdLiveWriters();
    const run = new ProjectionRebuilder(context).rebuild(orderViewProjection, 'test', 'test');
    const parked = await parkedAtSwitch();
    // The switch holds the row while it waits for the live writers; past its lock timeout it lets go, and the cancel goes through.
    const cancelled = await records.requestCancel(parked.id);
    assert.deepEqual(
      [cancelled?.state, cancelled?.cancelRequested],
      ['running', true],
      'the cancel was accepted: the API answers 202',
    );

    const ended = await run;
    await holder.query('COMMIT');
    assert.equal(ended.state, 'cancelled', ended.error ?? '');
    assert.equal(await liveSchema(), served);
    assert.equal(await schemaExists(parked.schemaName), false);
  });
});
