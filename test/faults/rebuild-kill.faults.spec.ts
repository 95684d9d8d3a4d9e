import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import request from 'supertest';

import { CommandApiModule } from '@app/command-api';
import { LIVE_GENERATION_LOCK, REBUILD_OWNER_LOCK } from '@app/projections';
import { QueryApiModule } from '@app/query-api';
import {
  AcknowledgedCommands,
  AdminCliProcess,
  AppProcess,
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

const SEEDED_ORDERS = 6_000;

/**
 * Scenario 14: a rebuild killed with `kill -9` after filling its new generation and before switching
 * readers to it (held there by a lock a long batch would hold, whatever the machine's speed), while
 * clients keep reading (and writing). The live generation keeps serving throughout: not one read
 * fails. The rerun abandons the killed rebuild, drops its filled schema, completes, switches,
 * and drops the old generation.
 */
describe('fault: a rebuild killed before its switch under live reads, then rerun', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  let queryApi: TestApp;
  let worker: AppProcess;

  before(async () => {
    env = await createTestEnvironment('rebuild_kill', { partitions: 6 });
    [commandApi, queryApi] = await Promise.all([
      startTestApp(CommandApiModule, env.config),
      startTestApp(QueryApiModule, env.config),
    ]);
    // The live worker as a process of its own, so that its log can be checked.
    worker = new AppProcess('projection-worker', env.config);
    await worker.ready;
  });

  after(async () => {
    await worker.stop('SIGKILL');
    await Promise.all([commandApi.close(), queryApi.close()]);
    await env.dispose();
  });

  const liveSchema = async (): Promise<string> => {
    const { rows } = await env.readDb.query<{ schema_name: string }>(
      "SELECT schema_name FROM projection_generations WHERE projection = 'order-view'",
    );
    return rows[0]?.schema_name ?? '';
  };
  const schemaExists = async (schema: string): Promise<boolean> => {
    const { rows } = await env.readDb.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    return rows.length > 0;
  };

  it('keeps serving through the kill; the rerun switches and leaves no abandoned schema behind', async () => {
    // A log big enough for the fill to take seconds, through the store, the relay and the live projections.
    assert.equal(await seedEventStore(env.db, SEEDED_ORDERS), SEEDED_ORDERS * 4);
    await eventually(
      async () => {
        const { rows } = await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM order_view');
        assert.equal(rows[0]?.n, SEEDED_ORDERS, 'the live generation serves every seeded order');
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const { rows: sample } = await env.readDb.query<{ order_id: string; version: number }>(
      'SELECT order_id::text, version FROM order_view ORDER BY order_id LIMIT 200',
    );
    const original = await liveSchema();

    const acknowledged = new AcknowledgedCommands();
    const stop = { done: false };
    const writer = loadUntil(commandApi.getHttpServer(), 14, stop, {
      clients: 1,
      pauseMs: 100,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    const failures: string[] = [];
    let reads = 0;
    const queryServer = queryApi.getHttpServer();
    const readers = Array.from({ length: 2 }, async (_, reader) => {
      const pick = seededRandom(100 + reader);
      while (!stop.done) {
        const order = sample[Math.floor(pick() * sample.length)];
        const paths = [
          '/orders?limit=20',
          `/customers/seeded-customer-${String(Math.floor(pick() * 500))}`,
          '/stats/sales?granularity=1h',
        ];
        if (order) paths.push(`/orders/${order.order_id}`);
        for (const path of paths) {
          const response = await request(queryServer).get(path);
          reads++;
          if (response.status !== 200) failures.push(`GET ${path}: ${String(response.status)} ${response.text}`);
          else if (
            order &&
            path === `/orders/${order.order_id}` &&
            (response.body as { version?: number }).version !== order.version
          ) {
            failures.push(
              `GET ${path}: version ${String((response.body as { version?: number }).version)}, expected ${String(order.version)}`,
            );
          }
        }
      }
    });

    // Hold the live generation as a long batch would: the rebuild fills its generation, then waits to
    // switch, however fast the machine. It is killed there, with its generation full and not yet live.
    const holder = new pg.Client({ connectionString: env.config.readDatabaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'order-view']);
    const killed = new AdminCliProcess(env.config, ['order-view']);
    // The kill point, from the locks Postgres shows: the session that owns the rebuild waits for the
    // live generation's lock exclusively, which only a switch takes, after its fill.
    const midway = await eventually(
      async () => {
        const { rows } = await env.readDb.query<{
          id: string;
          schema_name: string;
          marks: Record<string, number> | null;
          waiting: boolean;
        }>(
          `SELECT r.id::text, r.schema_name, r.high_water_marks AS marks,
                EXISTS (SELECT 1 FROM pg_locks w JOIN pg_locks o ON o.pid = w.pid
                         WHERE w.locktype = 'advisory' AND w.classid = $1 AND w.mode = 'ExclusiveLock' AND NOT w.granted
                           AND o.locktype = 'advisory' AND o.classid = $2 AND o.objid::bigint = r.id AND o.objsubid = 2 AND o.granted
                           AND w.database = o.database AND o.database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS waiting
           FROM projection_rebuilds r WHERE r.projection = 'order-view' AND r.state = 'running'`,
          [LIVE_GENERATION_LOCK, REBUILD_OWNER_LOCK],
        );
        const row = rows[0];
        assert.ok(row?.waiting && row.marks, "the rebuild's owner waits to switch");
        return { schema: row.schema_name, marks: row.marks };
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    killed.signal('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    // What the killed rebuild left, read after its death, so exact: a generation filled past the
    // high-water marks it took at its start, on every partition, and not live.
    const { rows: filled } = await env.readDb.query<{ partition: number; next_offset: string }>(
      `SELECT partition, next_offset::text FROM "${midway.schema}".projection_offsets WHERE projection = 'order-view' AND topic = $1`,
      [env.config.kafka.ordersTopic],
    );
    const marks = Object.entries(midway.marks).filter(([, end]) => end > 0);
    for (const [partition, end] of marks) {
      const reached = Number(filled.find((row) => row.partition === Number(partition))?.next_offset ?? 0);
      assert.ok(reached >= end, `partition ${partition}: filled to ${String(reached)} of its mark ${String(end)}`);
    }
    const eventsAtMarks = marks.reduce((sum, [, end]) => sum + end, 0);
    const eventsFilled = filled.reduce((sum, row) => sum + Number(row.next_offset), 0);
    assert.ok(eventsAtMarks >= SEEDED_ORDERS * 4, `the marks cover the seeded log: ${String(eventsAtMarks)} events`);
    const { rows: ordersFilled } = await env.readDb.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${midway.schema}".order_view`,
    );
    assert.ok((ordersFilled[0]?.n ?? 0) >= SEEDED_ORDERS, 'the killed generation holds every seeded order');
    await holder.query('COMMIT');
    await holder.end();
    assert.equal(await liveSchema(), original, 'the live generation is untouched by the killed rebuild');

    const rerun = await new AdminCliProcess(env.config, ['order-view']).exited;
    assert.equal(rerun.code, 0, rerun.stderr + rerun.stdout);
    assert.match(rerun.stdout, /order-view: rebuilt as generation 3/);
    stop.done = true;
    await Promise.all([writer, ...readers]);

    assert.deepEqual(failures.slice(0, 5), [], 'no read failed');
    assert.ok(reads > 20, `only ${String(reads)} reads happened around the rebuilds`);
    const { rows: abandoned } = await env.readDb.query<{ state: string; error: string }>(
      'SELECT state, error FROM projection_rebuilds WHERE schema_name = $1',
      [midway.schema],
    );
    assert.equal(abandoned[0]?.state, 'failed');
    assert.match(abandoned[0].error, /abandoned/);
    assert.equal(await schemaExists(midway.schema), false, "the killed rebuild's filled generation is dropped");
    assert.equal(await schemaExists(original), false, 'the generation it replaced is dropped');
    assert.equal(await liveSchema(), 'order_view_g3');

    // Batches the live worker fetched before the switch are older than the new generation: stale, not a lost log.
    const alarms = worker.log.filter((line) => line.includes('LogBehindReadModel'));
    assert.deepEqual(alarms.slice(0, 3), [], 'the live worker raised no false alarm over the switch');
    const figures = await assertGuarantees(env, acknowledged);
    reportFigure('rebuild-kill', {
      eventsInLog: figures.events,
      killedAtItsSwitchAfterFillingPastMarksOf: eventsAtMarks,
      eventsInKilledGeneration: eventsFilled,
      ordersInKilledGeneration: ordersFilled[0]?.n ?? 0,
      reads,
      failedReads: failures.length,
      abandonedSchemaDropped: true,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
  });
});
