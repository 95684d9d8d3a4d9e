import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type pg from 'pg';
import type { EntityManager, QueryRunner } from 'typeorm';

import { migrations } from '@app/migrations';
import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { createGenerationLike } from './generations.js';

const BIGINT_MAX = 9_223_372_036_854_775_807n;
const SAFE_MAX = 9_007_199_254_740_991n;
const ORDER_ID = '0b8f5c1e-1d2b-4a8e-9b61-7c0f5a2d3e4f';
const ExactAmounts = migrations.find((migration) => migration.name === 'ExactAmounts1764500000000');

/**
 * The migration that makes amounts numeric, run on a database whose generations hold bigint amounts
 * (its own `down` puts them back): the live generation's rows and a generation a rebuild is filling
 * keep every digit, the public views serve the altered tables, and a sum past bigint no longer fails.
 */
describe('migration ExactAmounts1764500000000', () => {
  let env: TestEnvironment;
  let client: pg.PoolClient;
  /** The migration and the generations code only send SQL, so a pg client in a transaction serves as both. */
  let runner: QueryRunner & EntityManager;

  before(async () => {
    env = await createTestEnvironment('exact_amounts', { relayEnabled: false });
    client = await env.readDb.connect();
    runner = {
      query: async (sql: string, parameters?: unknown[]): Promise<unknown[]> =>
        (await client.query<Record<string, unknown>>(sql, parameters)).rows,
    } as unknown as QueryRunner & EntityManager;
  });

  after(async () => {
    client.release();
    await env.dispose();
  });

  const typeOf = async (schema: string, table: string, column: string): Promise<string | undefined> =>
    (
      await env.readDb.query<{ data_type: string }>(
        'SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3',
        [schema, table, column],
      )
    ).rows[0]?.data_type;
  const liveSchema = async (projection: string): Promise<string> =>
    (
      await env.readDb.query<{ schema_name: string }>(
        'SELECT schema_name FROM projection_generations WHERE projection = $1',
        [projection],
      )
    ).rows[0]?.schema_name ?? '';

  it('alters the live generation and one being built, keeps every digit and the public views', async () => {
    const [orderView, sales] = [await liveSchema('order-view'), await liveSchema('sales')];
    assert.ok(ExactAmounts, 'the migration is registered');
    const migration = new ExactAmounts();
    await client.query('BEGIN');
    await migration.down(runner);
    await client.query('COMMIT');
    assert.equal(await typeOf(orderView, 'order_view', 'total_minor'), 'bigint');
    assert.equal(await typeOf(sales, 'sales_buckets', 'revenue_minor'), 'bigint');

    await env.readDb.query(
      `INSERT INTO ${orderView}.order_view (order_id, customer_id, status, currency, lines, total_minor, version, placed_at, updated_at, applied_events)
       VALUES ($1, 'c', 'PLACED', 'EUR', '[]', $2, 1, now(), now(), 1)`,
      [ORDER_ID, SAFE_MAX.toString()],
    );
    const bucket = `INSERT INTO %s.sales_buckets VALUES ('1h', '2026-11-24T10:00:00Z', 'EUR', 1, $1, 0)`;
    await env.readDb.query(bucket.replace('%s', sales), [BIGINT_MAX.toString()]);
    // A rebuild filling the next generation, created LIKE the live one while it still had bigint.
    await createGenerationLike(runner, sales, 'sales_g2');
    await env.readDb.query(bucket.replace('%s', 'sales_g2'), [(BIGINT_MAX - 1n).toString()]);

    await client.query('BEGIN');
    await migration.up(runner);
    await client.query('COMMIT');
    for (const [schema, table, column] of [
      [orderView, 'order_view', 'total_minor'],
      [sales, 'sales_buckets', 'revenue_minor'],
      ['sales_g2', 'sales_buckets', 'revenue_minor'],
    ] as const) {
      assert.equal(await typeOf(schema, table, column), 'numeric', `${schema}.${table}.${column}`);
    }
    const total = await env.readDb.query<{ total: string }>(
      'SELECT total_minor::text AS total FROM public.order_view WHERE order_id = $1',
      [ORDER_ID],
    );
    assert.equal(total.rows[0]?.total, SAFE_MAX.toString(), 'the public view serves the altered table, digits intact');
    const added = await env.readDb.query<{ revenue: string }>(
      `UPDATE sales_buckets SET revenue_minor = revenue_minor + $1 RETURNING revenue_minor::text AS revenue`,
      [BIGINT_MAX.toString()],
    );
    assert.equal(
      added.rows[0]?.revenue,
      (2n * BIGINT_MAX).toString(),
      'a sum past bigint is stored exactly, through the public view',
    );
    const building = await env.readDb.query<{ revenue: string }>(
      'SELECT revenue_minor::text AS revenue FROM sales_g2.sales_buckets',
    );
    assert.equal(building.rows[0]?.revenue, (BIGINT_MAX - 1n).toString());

    // Later generations are made LIKE the live one, so they are numeric from the start.
    await createGenerationLike(runner, orderView, 'order_view_g9');
    assert.equal(await typeOf('order_view_g9', 'order_view', 'total_minor'), 'numeric');
  });
});
