import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import request from 'supertest';

import { LIVE_GENERATION_LOCK, projections } from '@app/projections';
import {
  AdminCliProcess,
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

interface RebuildRow {
  readonly id: string;
  readonly state: string;
  readonly schema_name: string | null;
  readonly error: string | null;
}

/**
 * The replay command's exit codes and options that README promises beyond what replay.e2e checks:
 * --all, --dry-run, 3 while a rebuild of the projection runs, 130 on Ctrl-C (SIGINT) and 1 when the
 * rebuild fails. The command runs as its own process, as an operator runs it. A rebuild is held
 * before its switch deterministically: a session holds the live generation's lock shared, as a
 * long live batch would, so the rebuild fills its generation and then waits for that lock.
 */
describe('replay CLI: --all, --dry-run and exit codes 1, 3 and 130', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let sampleOrder: string;

  before(async () => {
    env = await createTestEnvironment('replay_cli');
    system = await startSystem(env.config);
    const random = seededRandom(13);
    const orders = await inParallel(40, 4, () =>
      runRandomLifecycle(system.commandApi.getHttpServer(), seededRandom(Math.floor(random() * 2 ** 32))),
    );
    sampleOrder = orders[0]?.orderId ?? '';
    await eventually(() => assertReadModelsEqualFold(env), { timeoutMs: 30_000 });
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  const generations = async (): Promise<Record<string, string>> => {
    const { rows } = await env.readDb.query<{ projection: string; schema_name: string }>(
      'SELECT projection, schema_name FROM projection_generations ORDER BY projection',
    );
    return Object.fromEntries(rows.map((row) => [row.projection, row.schema_name]));
  };
  const rebuilds = async (): Promise<RebuildRow[]> =>
    (
      await env.readDb.query<RebuildRow>(
        'SELECT id::text, state, schema_name, error FROM projection_rebuilds ORDER BY id',
      )
    ).rows;
  const schemaExists = async (schema: string): Promise<boolean> =>
    (await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema]))
      .rows[0]?.n === 1;

  /** Holds the order view's live generation lock shared, in an open transaction, until released. */
  async function holdLiveGeneration(): Promise<{ release(): Promise<void> }> {
    const holder = new pg.Client({ connectionString: env.config.readDatabaseUrl });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'order-view']);
    return {
      release: async () => {
        await holder.query('COMMIT');
        await holder.end();
      },
    };
  }

  /** Waits until a running rebuild has filled its generation and waits for the live lock to switch; returns it. */
  function waitingToSwitch(): Promise<RebuildRow> {
    return eventually(
      async () => {
        const { rows } = await env.readDb.query<RebuildRow & { waiting: boolean }>(
          `SELECT r.id::text, r.state, r.schema_name, r.error,
                EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND mode = 'ExclusiveLock' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS waiting
           FROM projection_rebuilds r WHERE r.state = 'running'`,
          [LIVE_GENERATION_LOCK],
        );
        assert.equal(rows[0]?.waiting, true, 'the rebuild has filled its generation and waits to switch');
        return rows[0];
      },
      { timeoutMs: 60_000 },
    );
  }

  /** The live generation keeps serving: the query API answers from it. */
  async function assertServing(): Promise<void> {
    const read = await request(system.queryApi.getHttpServer()).get(`/orders/${sampleOrder}`).expect(200);
    assert.equal((read.body as { orderId: string }).orderId, sampleOrder);
    await request(system.queryApi.getHttpServer()).get('/orders?limit=5').expect(200);
  }

  it("--all --dry-run shows each projection's plan and exits 0 without changing anything; so does --dry-run of one order, and single-order replay of a summing projection exits 2", async () => {
    const before = await generations();
    const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    const events = rows[0]?.n ?? 0;

    const dry = await new AdminCliProcess(env.config, ['--all', '--dry-run']).exited;
    assert.equal(dry.code, 0, dry.stderr + dry.stdout);
    for (const projection of projections) {
      assert.match(
        dry.stdout,
        new RegExp(`^${projection.name}: live generation 1 \\(schema ${before[projection.name] ?? '?'},`, 'm'),
      );
    }
    const plans = [...dry.stdout.matchAll(/would fill generation 2 from offset 0 up to ([\d,]+) events/g)].map(
      (match) => Number(match[1]?.replaceAll(',', '')),
    );
    assert.deepEqual(
      plans,
      projections.map(() => events),
      'each plan reads every event on the topic',
    );
    assert.match(dry.stdout, /^dry run: nothing was changed$/m);

    const order = await new AdminCliProcess(env.config, ['order-view', '--order', sampleOrder, '--dry-run']).exited;
    assert.equal(order.code, 0, order.stderr + order.stdout);
    assert.match(
      order.stdout,
      new RegExp(`^order ${sampleOrder}: its key maps to partition \\d of 3 .*would read that partition`, 'm'),
    );
    assert.match(order.stdout, /^dry run: nothing was changed$/m);

    // Single-order replay is for projections whose rows each reflect one order: the others exit 2, or are skipped under --all.
    const summed = await new AdminCliProcess(env.config, ['customer-summary', '--order', sampleOrder]).exited;
    assert.equal(summed.code, 2, summed.stderr + summed.stdout);
    assert.equal(
      summed.stdout,
      "customer-summary sums many orders per row, so one order's events cannot repair it: rebuild it whole instead\n",
    );
    const allOrder = await new AdminCliProcess(env.config, ['--all', '--order', sampleOrder, '--dry-run']).exited;
    assert.equal(allOrder.code, 0, allOrder.stderr + allOrder.stdout);
    for (const name of ['customer-summary', 'sales'])
      assert.match(allOrder.stdout, new RegExp(`^${name}: skipped: ${name} sums many orders per row`, 'm'));
    assert.match(allOrder.stdout, /would read that partition and rebuild the order's rows in order-view\n/);

    assert.deepEqual(await generations(), before);
    assert.deepEqual(await rebuilds(), []);
    const { rows: built } = await env.readDb.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE '%\\_g2'`,
    );
    assert.equal(built[0]?.n, 0, 'no generation was created');
  });

  it('exits 3 while the projection is being rebuilt, and 130 on SIGINT, cancelling the rebuild while the live generation serves', async () => {
    const before = await generations();
    const lock = await holdLiveGeneration();
    try {
      const first = new AdminCliProcess(env.config, ['order-view']);
      const running = await waitingToSwitch();
      assert.ok(running.schema_name && (await schemaExists(running.schema_name)), 'the rebuild built its generation');

      const second = await new AdminCliProcess(env.config, ['order-view']).exited;
      assert.equal(second.code, 3, second.stderr + second.stdout);
      assert.match(
        second.stdout,
        new RegExp(
          `order-view: not started: projection order-view is already being rebuilt \\(rebuild ${running.id}, running`,
        ),
      );

      first.signal('SIGINT');
      const interrupted = await first.exited;
      assert.equal(interrupted.code, 130, interrupted.stderr + interrupted.stdout);
      assert.match(interrupted.stderr, /interrupted: cancelling; the live generation keeps serving/);
      assert.match(
        interrupted.stdout,
        /order-view: cancelled: cancelled: interrupted; the live generation is unchanged/,
      );
      await assertServing();

      const ended = (await rebuilds()).find((rebuild) => rebuild.id === running.id);
      assert.equal(ended?.state, 'cancelled');
      assert.equal(await schemaExists(running.schema_name), false, 'the cancelled generation is dropped');
      assert.deepEqual(await generations(), before);
    } finally {
      await lock.release();
    }
  });

  it('exits 1 when the rebuild fails (its owner session is terminated), leaving the live generation serving', async () => {
    const before = await generations();
    const lock = await holdLiveGeneration();
    try {
      const cli = new AdminCliProcess(env.config, ['order-view']);
      const running = await waitingToSwitch();
      const { rows } = await env.readDb.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'rebuild-owner'`,
      );
      assert.equal(rows[0]?.n, 1, 'one rebuild owner session');
      const failed = await cli.exited;
      assert.equal(failed.code, 1, failed.stderr + failed.stdout);
      assert.match(failed.stdout, /order-view: failed: .*; the live generation is unchanged/);
      await assertServing();

      const ended = (await rebuilds()).find((rebuild) => rebuild.id === running.id);
      assert.equal(ended?.state, 'failed');
      assert.ok(running.schema_name);
      assert.equal(await schemaExists(running.schema_name), false, 'the failed generation is dropped');
      assert.deepEqual(await generations(), before);
    } finally {
      await lock.release();
    }
  });

  it('--all rebuilds every projection side by side and exits 0; the read models still equal the fold', async () => {
    const all = await new AdminCliProcess(env.config, ['--all']).exited;
    assert.equal(all.code, 0, all.stderr + all.stdout);
    // The order view's cancelled and failed attempts used generations 2 and 3: a new one never reuses them.
    const expected: Record<string, number> = Object.fromEntries(
      projections.map(({ name }) => [name, name === 'order-view' ? 4 : 2]),
    );
    for (const projection of projections) {
      assert.match(
        all.stdout,
        new RegExp(`${projection.name}: rebuilt as generation ${String(expected[projection.name])} .*readers switched`),
      );
    }
    const now = await generations();
    for (const projection of projections)
      assert.match(now[projection.name] ?? '', new RegExp(`_g${String(expected[projection.name])}$`));
    assert.deepEqual(
      (await rebuilds()).map((rebuild) => rebuild.state),
      ['cancelled', 'failed', ...projections.map(() => 'switched')],
    );
    await assertServing();
    await assertReadModelsEqualFold(env);
  });
});
