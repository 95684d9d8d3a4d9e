import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { PipelinedSql, type PipelinedSession } from '@app/platform';

import { eventually } from './eventually.js';
import { createTestEnvironment, type TestEnvironment } from './test-environment.js';

// PipelinedSql lives in libs/platform, which may import nothing of ours: its test is here, beside the
// test environment it needs.
describe('pipelined connections', () => {
  let env: TestEnvironment;
  let sql: PipelinedSql;

  const values = async (): Promise<number[]> =>
    (await env.db.query<{ v: number }>('SELECT v FROM pipelined_test ORDER BY v')).rows.map((row) => row.v);
  const insert = (db: PipelinedSession, v: number): Promise<unknown> =>
    db.query('INSERT INTO pipelined_test (v) VALUES ($1)', [v]);

  before(async () => {
    env = await createTestEnvironment('pipelined_sql', { relayEnabled: false });
    await env.db.query('CREATE TABLE pipelined_test (v int PRIMARY KEY)');
    sql = new PipelinedSql(env.config.databaseUrl, { max: 2, applicationName: 'pipelined-sql-test' });
  });

  after(async () => {
    await sql.close();
    await env.dispose();
  });

  it('answers statements issued without awaiting in order, and commits what they wrote', async () => {
    const answers = await sql.transaction(async (db) => {
      const first = insert(db, 1);
      const second = db.query('SELECT count(*)::int AS n FROM pipelined_test');
      const third = insert(db, 2);
      return Promise.all([first, second, third]);
    });
    assert.deepEqual(answers[1], [{ n: 1 }], 'the read ran after the first insert, before the second');
    assert.deepEqual(await values(), [1, 2]);
  });

  it('fails with the first failed statement, not what followed it, and commits nothing', async () => {
    await assert.rejects(
      sql.transaction(async (db) => {
        void insert(db, 10);
        void insert(db, 1); // a duplicate key
        await insert(db, 11); // answers "current transaction is aborted"
      }),
      (error: { code?: string }) => error.code === '23505',
    );
    await assert.rejects(
      sql.transaction(async (db) => {
        void insert(db, 12);
        void insert(db, 1); // never awaited: still the transaction's failure
        return Promise.resolve();
      }),
      (error: { code?: string }) => error.code === '23505',
    );
    assert.deepEqual(await values(), [1, 2]);
  });

  it('commits when a failed statement was undone by its savepoint', async () => {
    await sql.transaction(async (db) => {
      await insert(db, 20);
      await db.query('SAVEPOINT s');
      await assert.rejects(insert(db, 1));
      await db.query('ROLLBACK TO SAVEPOINT s');
      await insert(db, 21);
    });
    assert.deepEqual(await values(), [1, 2, 20, 21]);
  });

  it('survives a connection terminated mid-transaction, and the next transaction runs on a new one', async () => {
    const rejected = sql.transaction(async (db) => {
      const [{ pid }] = (await db.query('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
      await env.db.query('SELECT pg_terminate_backend($1)', [pid]);
      // The connection is checked out and idle when the server ends it: an 'error' event without a
      // listener would end this process.
      await eventually(async () => {
        const gone = await env.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
        assert.equal(gone.rowCount, 0);
      });
      await insert(db, 30);
    });
    await assert.rejects(rejected);
    await sql.transaction((db) => insert(db, 31));
    assert.deepEqual(await values(), [1, 2, 20, 21, 31]);
  });

  it('closes a connection whose prepared statement no longer fits its table, and the next one prepares it again', async () => {
    const read = (): Promise<unknown> => sql.query('SELECT * FROM pipelined_test WHERE v = $1', [1]);
    for (let i = 0; i < 4; i++) await read(); // prepared on both connections
    await env.db.query('ALTER TABLE pipelined_test ADD COLUMN w int');
    const outcomes = await Promise.allSettled([read(), read()]);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') assert.equal((outcome.reason as { code?: string }).code, '0A000');
    }
    assert.deepEqual(await sql.query('SELECT * FROM pipelined_test WHERE v = $1', [1]), [{ v: 1, w: null }]);
    assert.deepEqual(await sql.query('SELECT * FROM pipelined_test WHERE v = $1', [1]), [{ v: 1, w: null }]);
  });

  it('makes its cached plans again with replanEveryMs, so that they follow a table that grows unanalyzed', async () => {
    await env.db.query('CREATE TABLE replan_test (k int PRIMARY KEY, pad text)');
    const text = 'SELECT pad FROM replan_test WHERE k = ANY($1::int[])';
    /** The plan a connection holds for `text` (EXPLAIN, with its estimates) while the table is empty, then once it holds 20,000 rows. */
    const plansAsItGrows = async (options: { replanEveryMs?: number }): Promise<[string, string]> => {
      await env.db.query('TRUNCATE replan_test');
      const one = new PipelinedSql(env.config.databaseUrl, { max: 1, applicationName: 'replan-test', ...options });
      const heldPlan = async (db: PipelinedSession): Promise<string> => {
        const [prepared]: { name: string }[] = await db.query(
          'SELECT name FROM pg_prepared_statements WHERE statement = $1',
          [text],
        );
        const plan: Record<string, string>[] = await db.query(`EXPLAIN EXECUTE ${prepared?.name ?? 'none'}('{1}')`);
        return plan.map((line) => line['QUERY PLAN']).join('\n');
      };
      try {
        const empty = await one.transaction(async (db) => {
          // What Postgres settles on after a few calls; forced here so that the test need not count them.
          await db.query('SET plan_cache_mode = force_generic_plan');
          await db.query(text, [[1]]);
          return heldPlan(db);
        });
        // Never analyzed, as on a server with autovacuum off: nothing invalidates the plan.
        await env.db.query("INSERT INTO replan_test SELECT k, 'x' FROM generate_series(1, 20000) AS k");
        return [empty, await one.transaction(heldPlan)];
      } finally {
        await one.close();
      }
    };
    const [kept, stillKept] = await plansAsItGrows({});
    assert.equal(stillKept, kept, 'without it, the plan made on the empty table stays, estimates and all');
    const [made, madeAgain] = await plansAsItGrows({ replanEveryMs: 0 });
    assert.equal(made, kept);
    assert.notEqual(madeAgain, made, 'made again for the table as it now is');
  });

  it('plans a statement once per connection with planCacheMode force_generic_plan, not on every call', async () => {
    await env.db.query('CREATE TABLE plan_mode_test (k int PRIMARY KEY)');
    const text = 'SELECT k FROM plan_mode_test WHERE k = ANY($1::int[])';
    /** How a connection planned `text` over eight calls with `keys`, as pg_prepared_statements counts. */
    const plansOverEightCalls = async (options: {
      planCacheMode?: 'force_generic_plan';
    }): Promise<{ generic: number; custom: number }> => {
      const one = new PipelinedSql(env.config.databaseUrl, { max: 1, applicationName: 'plan-mode-test', ...options });
      try {
        return await one.transaction(async (db) => {
          for (let call = 1; call <= 8; call++) void db.query(text, [[call, call + 1]]);
          const [counted]: { generic: string; custom: string }[] = await db.query(
            'SELECT generic_plans AS generic, custom_plans AS custom FROM pg_prepared_statements WHERE statement = $1',
            [text],
          );
          return { generic: Number(counted?.generic), custom: Number(counted?.custom) };
        });
      } finally {
        await one.close();
      }
    };
    // Postgres' default plans the first five calls for their values, whatever follows.
    const byDefault = await plansOverEightCalls({});
    assert.ok(
      byDefault.custom >= 5,
      `by default the first calls are planned for their keys (${String(byDefault.custom)})`,
    );
    assert.deepEqual(await plansOverEightCalls({ planCacheMode: 'force_generic_plan' }), { generic: 8, custom: 0 });
  });
});
