import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import pg from 'pg';
import request from 'supertest';

import { LIVE_GENERATION_LOCK, projections } from '@app/projections';
import {
  AdminCliProcess,
  TEST_ADMIN_TOKEN,
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  inParallel,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

interface RebuildBody {
  rebuild: {
    id: string;
    state: string;
    generation: number | null;
    progress: { eventsTotal: number; eventsPerSecond: number } | null;
  };
  statusUrl: string;
}

async function generations(env: TestEnvironment): Promise<Record<string, string>> {
  const { rows } = await env.readDb.query<{ projection: string; schema_name: string }>(
    'SELECT projection, schema_name FROM projection_generations',
  );
  return Object.fromEntries(rows.map((row) => [row.projection, row.schema_name]));
}

/** A digest of everything readers can see, to prove that something left it unchanged. */
async function servedData(env: TestEnvironment, exceptOrder?: string): Promise<string> {
  const { rows } = await env.readDb.query<{ digest: string }>(
    `SELECT md5(concat_ws('|',
       (SELECT string_agg(v::text, ',' ORDER BY order_id) FROM order_view v WHERE order_id IS DISTINCT FROM $1::uuid),
       (SELECT string_agg(c::text, ',' ORDER BY customer_id) FROM customer_summary c),
       (SELECT string_agg(s::text, ',' ORDER BY granularity, bucket_start, currency) FROM sales_buckets s))) AS digest`,
    [exceptOrder ?? null],
  );
  return rows[0]?.digest ?? '';
}

describe('replay: rebuilding projections from offset zero', () => {
  let env: TestEnvironment;
  let system: RunningSystem;

  beforeEach(async () => {
    env = await createTestEnvironment('replay', { partitions: 6 });
    system = await startSystem(env.config);
    const random = seededRandom(5);
    await inParallel(150, 8, () =>
      runRandomLifecycle(system.commandApi.getHttpServer(), seededRandom(Math.floor(random() * 2 ** 32))),
    );
    await eventually(() => assertReadModelsEqualFold(env), { timeoutMs: 30_000 });
  });

  afterEach(async () => {
    await system.close();
    await env.dispose();
  });

  it('rebuilds every projection while clients keep placing orders and reading: zero failed reads, then equal to the fold', async () => {
    const commandApi = system.commandApi.getHttpServer();
    const queryApi = system.queryApi.getHttpServer();
    const before = await generations(env);
    const known: { orderId: string; version: number }[] = [];
    const failures: string[] = [];
    let reads = 0;
    const stop = { done: false };

    // Writers check read-your-writes after every command; readers check that known orders never vanish or go back.
    const random = seededRandom(11);
    const writers = Array.from({ length: 2 }, async () => {
      while (!stop.done) {
        try {
          known.push(await runRandomLifecycle(commandApi, seededRandom(Math.floor(random() * 2 ** 32)), queryApi));
        } catch (error) {
          failures.push(`writer: ${String(error)}`);
        }
      }
    });
    const readers = Array.from({ length: 2 }, async (_, reader) => {
      const pick = seededRandom(100 + reader);
      while (!stop.done) {
        const order = known[Math.floor(pick() * known.length)];
        const paths = [
          '/stats/sales?granularity=1h',
          `/customers/customer-${String(Math.floor(pick() * 50))}`,
          '/orders?limit=20',
        ];
        if (order) paths.push(`/orders/${order.orderId}`);
        for (const path of paths) {
          const response = await request(queryApi).get(path);
          reads++;
          // A customer may not have ordered yet: 404 is a real answer there, not a failed read.
          const fine = response.status === 200 || (response.status === 404 && path.startsWith('/customers/'));
          if (!fine) failures.push(`GET ${path}: ${String(response.status)} ${response.text}`);
          if (
            order &&
            path === `/orders/${order.orderId}` &&
            (response.body as { version?: number }).version !== order.version
          ) {
            failures.push(
              `GET ${path}: version ${String((response.body as { version?: number }).version)}, expected ${String(order.version)}`,
            );
          }
        }
      }
    });

    const started = performance.now();
    const accepted = await Promise.all(
      projections.map(async (projection) => {
        const response = await request(queryApi)
          .post(`/admin/projections/${projection.name}/rebuild`)
          .set(admin)
          .expect(202);
        const body = response.body as RebuildBody;
        assert.equal(response.headers.location, body.statusUrl);
        return body;
      }),
    );
    // A second request while one is under way is refused.
    const again = await request(queryApi)
      .post(`/admin/projections/${projections[0]?.name ?? ''}/rebuild`)
      .set(admin)
      .expect(409);
    assert.equal((again.body as { code: string }).code, 'REBUILD_IN_PROGRESS');

    const finished = await eventually(
      async () => {
        const states = await Promise.all(
          accepted.map(
            async ({ statusUrl }) =>
              (await request(queryApi).get(statusUrl).set(admin).expect(200)).body as RebuildBody,
          ),
        );
        for (const { rebuild } of states) assert.equal(rebuild.state, 'switched');
        return states;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const seconds = (performance.now() - started) / 1_000;
    stop.done = true;
    await Promise.all([...writers, ...readers]);

    assert.deepEqual(failures, []);
    assert.ok(reads > 50, `only ${String(reads)} reads happened during the rebuild`);
    const after = await generations(env);
    for (const projection of projections) assert.notEqual(after[projection.name], before[projection.name]);
    // Each replaced generation is dropped after its switch commits, not in it.
    await eventually(
      async () => {
        const { rows: schemas } = await env.readDb.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ANY($1::text[])',
          [Object.values(before)],
        );
        assert.equal(schemas[0]?.n, 0, 'the old generations are dropped');
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );

    const fold = await eventually(() => assertReadModelsEqualFold(env), { timeoutMs: 30_000 });
    const list = (await request(queryApi).get('/admin/projections').set(admin).expect(200)).body as {
      items: { name: string; state: string; generation: number }[];
    };
    for (const item of list.items) assert.deepEqual([item.state, item.generation], ['live', 2], item.name);
    const replayed = finished.map(({ rebuild }) => rebuild.progress?.eventsTotal ?? 0);
    console.log(
      `FIGURE replay-under-load: ${String(projections.length)} projections rebuilt from ${String(Math.max(...replayed))} events each in ${seconds.toFixed(1)} s ` +
        `while ${String(known.length)} orders were placed and ${String(reads)} reads served; failed reads 0; then ${String(fold.orders)} orders equal the fold`,
    );
  });

  it('leaves the served data unchanged when the rebuild is killed with kill -9 before its switch, and the rerun completes', async () => {
    const before = await generations(env);
    const served = await servedData(env);
    // Hold the live generation as a long batch would: the rebuild fills its generation, then waits to switch.
    const holder = new pg.Client({ connectionString: env.config.readDatabaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'order-view']);

    const killed = new AdminCliProcess(env.config, ['order-view']);
    const building = await eventually(
      async () => {
        const { rows } = await env.readDb.query<{ schema_name: string | null; waiting: boolean }>(
          `SELECT r.schema_name, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND mode = 'ExclusiveLock' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS waiting
             FROM projection_rebuilds r WHERE r.state = 'running'`,
          [LIVE_GENERATION_LOCK],
        );
        assert.equal(rows[0]?.waiting, true, 'the rebuild has filled its generation and waits to switch');
        return rows[0].schema_name ?? '';
      },
      { timeoutMs: 60_000 },
    );
    const { rows: filled } = await env.readDb.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${building}".order_view`,
    );
    assert.ok((filled[0]?.n ?? 0) > 0, 'the new generation was filled');
    killed.signal('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    await holder.query('COMMIT');
    await holder.end();

    assert.deepEqual(await generations(env), before);
    assert.equal(await servedData(env), served);
    await request(system.queryApi.getHttpServer()).get('/orders?limit=5').expect(200);

    const rerun = await new AdminCliProcess(env.config, ['order-view']).exited;
    assert.equal(rerun.code, 0, rerun.stderr + rerun.stdout);
    assert.match(rerun.stdout, /order-view: rebuilt as generation 3/);
    const { rows: abandoned } = await env.readDb.query<{ state: string; error: string }>(
      'SELECT state, error FROM projection_rebuilds WHERE schema_name = $1',
      [building],
    );
    assert.equal(abandoned[0]?.state, 'failed');
    assert.match(abandoned[0].error, /abandoned/);
    const { rows: leftovers } = await env.readDb.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1',
      [building],
    );
    assert.equal(leftovers[0]?.n, 0, "the killed rebuild's generation is dropped");
    assert.equal((await generations(env))['order-view'], 'order_view_g3');
    await assertReadModelsEqualFold(env);
  });

  it('replays one order alone: restores a corrupted row from its partition and touches no other', async () => {
    const { rows } = await env.readDb.query<{ order_id: string; row: string }>(
      'SELECT order_id::text, v::text AS row FROM order_view v ORDER BY order_id LIMIT 1',
    );
    const target = rows[0];
    assert.ok(target);
    const others = await servedData(env, target.order_id);
    await env.readDb.query(
      `UPDATE order_view SET status = 'DELIVERED', total_minor = 1, lines = '[]' WHERE order_id = $1`,
      [target.order_id],
    );

    const unknown = await new AdminCliProcess(env.config, ['no-such-projection']).exited;
    assert.equal(unknown.code, 2);
    assert.ok(
      unknown.stderr.includes(`known projections: ${projections.map((projection) => projection.name).join(', ')}`),
      unknown.stderr,
    );

    const replay = await new AdminCliProcess(env.config, ['order-view', '--order', target.order_id]).exited;
    assert.equal(replay.code, 0, replay.stderr + replay.stdout);
    assert.match(replay.stdout, /order-view: order .* rebuilt from partition \d+/);
    const { rows: restored } = await env.readDb.query<{ row: string }>(
      'SELECT v::text AS row FROM order_view v WHERE order_id = $1',
      [target.order_id],
    );
    assert.equal(restored[0]?.row, target.row);
    assert.equal(await servedData(env, target.order_id), others);
    await assertReadModelsEqualFold(env);
  });
});
