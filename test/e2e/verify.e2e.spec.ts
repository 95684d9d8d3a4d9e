import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import type { Difference } from '@app/projections';
import {
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  inParallel,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  verifyEnvironment,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const ORDERS = 60;
const SEED = 20_261_202;
const VERIFY_JS = fileURLToPath(new URL('../../apps/admin-cli/src/verify.js', import.meta.url));
const run = promisify(execFile);

/**
 * Positive controls of the oracle (issue 13): a clean system verifies with no difference, and each
 * kind of defect planted into it is reported, by the tests' oracle and by `npm run verify` alike.
 * The system is stopped before planting, so nothing repairs or moves the rows meanwhile.
 */
describe('verify: the event store against every read model, side table, bookkeeping row and topic', () => {
  let env: TestEnvironment;
  let system: RunningSystem | undefined;

  before(async () => {
    env = await createTestEnvironment('verify', { partitions: 3 });
    system = await startSystem(env.config);
  });

  after(async () => {
    await system?.close();
    await env.dispose();
  });

  /** Runs the built command line against the test environment; never throws on a non-zero exit. */
  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const environment = {
      ...process.env,
      DATABASE_URL: env.config.databaseUrl,
      READ_DATABASE_URL: env.config.readDatabaseUrl,
      KAFKA_BROKERS: env.config.kafka.brokers.join(','),
      ORDERS_TOPIC: env.config.kafka.ordersTopic,
      KAFKA_CLIENT_ID: env.config.kafka.clientId,
    };
    try {
      const { stdout, stderr } = await run(process.execPath, [VERIFY_JS, ...args], {
        env: environment,
        timeout: 120_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: unknown; stdout?: string; stderr?: string };
      assert.equal(typeof failed.code, 'number', `verify did not exit by itself: ${String(error)}`);
      return { code: failed.code as number, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
    }
  };

  const schemaOf = async (projection: string): Promise<string> => {
    const { rows } = await env.readDb.query<{ schema_name: string }>(
      'SELECT schema_name FROM projection_generations WHERE projection = $1',
      [projection],
    );
    return `"${rows[0]?.schema_name ?? ''}"`;
  };

  /** An order in the given status, with what a planted defect needs of it. */
  const anOrder = async (
    status: string,
  ): Promise<{ orderId: string; customerId: string; currency: string; placedTotal: string }> => {
    // Two queries, not a join: the read store may be a database of its own.
    const { rows } = await env.readDb.query<{ orderId: string; customerId: string; currency: string }>(
      `SELECT order_id::text AS "orderId", customer_id AS "customerId", currency::text AS currency
         FROM order_view WHERE status = $1 ORDER BY order_id LIMIT 1`,
      [status],
    );
    const order = rows[0];
    assert.ok(order, `the load left an order in status ${status}`);
    const { rows: placed } = await env.db.query<{ placedTotal: string }>(
      `SELECT (SELECT sum((l->>'quantity')::numeric * (l->>'unitPriceMinor')::numeric)::text FROM jsonb_array_elements(data->'lines') l) AS "placedTotal"
         FROM events WHERE order_id = $1 AND version = 1`,
      [order.orderId],
    );
    assert.ok(placed[0], `order ${order.orderId} has its OrderPlaced event`);
    return { ...order, placedTotal: placed[0].placedTotal };
  };

  const found = (differences: readonly Difference[], match: Partial<Difference>): Difference | undefined =>
    differences.find((d) => Object.entries(match).every(([name, value]) => d[name as keyof Difference] === value));

  /** Plants a defect, checks that both the oracle and the verification report it, and takes it back. */
  const planted = async (
    plant: string,
    undo: string,
    parameters: unknown[],
    expect: { match: Partial<Difference>; appliedTwice?: number; lost?: boolean },
  ): Promise<void> => {
    await env.readDb.query(plant, parameters); // every defect is planted in a read model
    try {
      const { figures, differences } = await verifyEnvironment(env, { withTopics: false });
      assert.ok(
        found(differences, expect.match),
        `reported ${JSON.stringify(expect.match)}; found ${JSON.stringify(differences.slice(0, 5))}`,
      );
      if (expect.appliedTwice !== undefined)
        assert.equal(figures.appliedTwice, expect.appliedTwice, 'applied twice, judged against the fold');
      if (expect.lost) assert.ok(figures.lost > 0, 'lost, judged against the fold');
      await assert.rejects(assertReadModelsEqualFold(env), assert.AssertionError, "the tests' oracle fails on it too");
    } finally {
      await env.readDb.query(undo, parameters);
    }
  };

  it('finds no difference on a clean system, and the command line exits 0 (2 on a bad flag)', async () => {
    const random = seededRandom(SEED);
    const seeds = Array.from({ length: ORDERS }, () => Math.floor(random() * 2 ** 32));
    const { commandApi } = system as RunningSystem;
    await inParallel(ORDERS, 8, (index) =>
      runRandomLifecycle(commandApi.getHttpServer(), seededRandom(seeds[index] ?? index)),
    );
    const agreement = await eventually(() => assertReadModelsEqualFold(env), { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(agreement.orders, ORDERS);
    assert.equal(agreement.appliedTwice, 0);
    const { queryApi } = system as RunningSystem;
    await queryApi.listen(0, '127.0.0.1');
    const queryApiCheck = { baseUrl: await queryApi.getUrl(), sample: ORDERS };
    // The offsets reach the log end a moment after the rows (a batch's last records may change no row).
    const clean = await eventually(
      async () => {
        const result = await verifyEnvironment(env, { queryApi: queryApiCheck });
        assert.deepEqual(result.differences.slice(0, 5), [], 'no difference');
        return result;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    // What clients read is compared too: a wrong field shows in the query API's JSON of the order.
    const { orderId } = await anOrder('DELIVERED');
    await env.readDb.query(`UPDATE order_view SET tracking_number = 'WRONG' WHERE order_id = $1`, [orderId]);
    const wrong = await verifyEnvironment(env, { withTopics: false, queryApi: queryApiCheck });
    assert.ok(
      found(wrong.differences, {
        projection: 'query-api',
        table: 'GET /orders/:id',
        key: orderId,
        field: 'trackingNumber',
      }),
      JSON.stringify(wrong.differences),
    );
    await env.readDb.query(
      `UPDATE order_view SET tracking_number = 'T-' || left(order_id::text, 8) WHERE order_id = $1`,
      [orderId],
    );
    await system?.close();
    system = undefined;
    const { figures } = clean;
    assert.ok(figures.topicRecords >= figures.events, 'the topic holds every stored event');
    console.log(
      `FIGURE verify clean: ${String(figures.orders)} orders, ${String(figures.events)} events, ${String(figures.customers)} customers, ` +
        `${String(figures.buckets)} buckets, ${String(figures.topicRecords)} topic records; differences ${String(figures.differences)}, applied twice ${String(figures.appliedTwice)}`,
    );

    const ok = await cli();
    assert.equal(ok.code, 0, `${ok.stdout}\n${ok.stderr}`);
    assert.match(ok.stdout, /everything agrees with the event store/);
    const bad = await cli('--bogus');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option "--bogus"/);
    const unknown = await cli('--projection', 'nope');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown projection "nope"/);
  });

  it('reports a wrong contract field of the order view (carrier)', async () => {
    const { orderId } = await anOrder('DELIVERED');
    await planted(
      `UPDATE order_view SET carrier = carrier || '-WRONG' WHERE order_id = $1`,
      `UPDATE order_view SET carrier = left(carrier, -6) WHERE order_id = $1`,
      [orderId],
      { match: { projection: 'order-view', table: 'order_view', key: orderId, field: 'carrier' } },
    );
  });

  it('reports a lost event: an order view row that is gone', async () => {
    const { orderId } = await anOrder('CONFIRMED');
    const { rows } = await env.readDb.query<{ row: unknown }>(
      'SELECT to_jsonb(v) AS row FROM order_view v WHERE order_id = $1',
      [orderId],
    );
    await planted(
      'DELETE FROM order_view WHERE order_id = $1 AND $2::jsonb IS NOT NULL',
      'INSERT INTO order_view SELECT * FROM jsonb_populate_record(NULL::order_view, $2::jsonb) WHERE $1::uuid IS NOT NULL',
      [orderId, JSON.stringify(rows[0]?.row)],
      { match: { projection: 'order-view', table: 'order_view', key: orderId, field: 'row' }, lost: true },
    );
  });

  it("reports an OrderPlaced applied twice past the runner's guard, in customer totals and in a sales bucket", async () => {
    const order = await anOrder('SHIPPED');
    await planted(
      `UPDATE customer_summary SET order_count = order_count + 1,
              totals_by_currency = jsonb_set(totals_by_currency, ARRAY[$2::text], to_jsonb((totals_by_currency->>$2)::numeric + $3::numeric))
        WHERE customer_id = $1`,
      `UPDATE customer_summary SET order_count = order_count - 1,
              totals_by_currency = jsonb_set(totals_by_currency, ARRAY[$2::text], to_jsonb((totals_by_currency->>$2)::numeric - $3::numeric))
        WHERE customer_id = $1`,
      [order.customerId, order.currency, order.placedTotal],
      {
        match: {
          projection: 'customer-summary',
          table: 'customer_summary',
          key: order.customerId,
          field: `totals_by_currency.${order.currency}`,
        },
        appliedTwice: 2,
      },
    );
    await planted(
      `UPDATE sales_buckets SET orders = orders + 1 WHERE (granularity, bucket_start, currency) = (SELECT granularity, bucket_start, currency FROM sales_buckets ORDER BY 1, 2, 3 LIMIT 1) AND $1::int = 1`,
      `UPDATE sales_buckets SET orders = orders - 1 WHERE (granularity, bucket_start, currency) = (SELECT granularity, bucket_start, currency FROM sales_buckets ORDER BY 1, 2, 3 LIMIT 1) AND $1::int = 1`,
      [1],
      { match: { projection: 'sales', table: 'sales_buckets', field: 'orders' }, appliedTwice: 1 },
    );
  });

  it('reports spurious zero rows: a sales bucket and a customer that no event made', async () => {
    await planted(
      `INSERT INTO sales_buckets (granularity, bucket_start, currency, orders, revenue_minor, cancellations) VALUES ('1h', $1, 'EUR', 0, 0, 0)`,
      `DELETE FROM sales_buckets WHERE granularity = '1h' AND bucket_start = $1`,
      ['2001-01-01T00:00:00Z'],
      {
        match: {
          projection: 'sales',
          table: 'sales_buckets',
          key: '1h|2001-01-01T00:00:00.000000Z|EUR',
          field: 'row',
          expected: null,
        },
      },
    );
    await planted(
      `INSERT INTO customer_summary (customer_id, order_count, totals_by_currency) VALUES ($1, 0, '{"EUR": 0}')`,
      'DELETE FROM customer_summary WHERE customer_id = $1',
      ['customer-nobody'],
      {
        match: {
          projection: 'customer-summary',
          table: 'customer_summary',
          key: 'customer-nobody',
          field: 'row',
          expected: null,
        },
      },
    );
  });

  it('reports a wrong side-table row and a wrong order version, which decides what counts as a duplicate next', async () => {
    const { orderId } = await anOrder('DELIVERED');
    await planted(
      `UPDATE sales_orders SET lines = lines || lines WHERE order_id = $1`,
      `UPDATE sales_orders SET lines = (SELECT jsonb_agg(l ORDER BY i) FROM jsonb_array_elements(lines) WITH ORDINALITY x(l, i) WHERE i <= jsonb_array_length(lines) / 2) WHERE order_id = $1`,
      [orderId],
      { match: { projection: 'sales', table: 'sales_orders', key: orderId, field: 'lines' } },
    );
    const versions = `${await schemaOf('customer-summary')}.projection_order_versions`;
    await planted(
      `UPDATE ${versions} SET version = version - 1 WHERE projection = 'customer-summary' AND order_id = $1`,
      `UPDATE ${versions} SET version = version + 1 WHERE projection = 'customer-summary' AND order_id = $1`,
      [orderId],
      {
        match: { projection: 'customer-summary', table: 'projection_order_versions', key: orderId, field: 'version' },
        lost: true,
      },
    );
  });

  it('reports rows of orders the store does not have: an order view and an order version, read apart from the store', async () => {
    // Looked up in the store page by page, never joined: the read store may be another database.
    const stranger = randomUUID();
    await planted(
      `INSERT INTO order_view SELECT (jsonb_populate_record(v, jsonb_build_object('order_id', $1::text))).* FROM order_view v ORDER BY order_id LIMIT 1`,
      `DELETE FROM order_view WHERE order_id = $1::uuid`,
      [stranger],
      {
        match: {
          projection: 'order-view',
          table: 'order_view',
          key: stranger,
          field: 'row',
          found: 'a row for an order not in the store',
        },
      },
    );
    const versions = `${await schemaOf('sales')}.projection_order_versions`;
    await planted(
      `INSERT INTO ${versions} (projection, order_id, version) VALUES ('sales', $1, 7)`,
      `DELETE FROM ${versions} WHERE projection = 'sales' AND order_id = $1`,
      ['NOT-AN-ORDER'],
      {
        match: {
          projection: 'sales',
          table: 'projection_order_versions',
          key: 'NOT-AN-ORDER',
          field: 'version',
          found: '7',
        },
      },
    );
  });

  it('finds no difference once every planted defect is taken back', async () => {
    const { figures, differences } = await verifyEnvironment(env);
    assert.deepEqual(differences.slice(0, 5), []);
    assert.equal(figures.differences, 0);
  });

  it('reports an extra record on the topic, and the command line prints it and exits 1', async () => {
    const producer = env.kafka.producer();
    await producer.connect();
    const eventId = randomUUID();
    try {
      await producer.send({
        topic: env.config.kafka.ordersTopic,
        messages: [{ key: randomUUID(), value: '{"not":"stored"}', headers: { 'event-id': eventId } }],
      });
    } finally {
      await producer.disconnect();
    }
    const { figures, differences } = await verifyEnvironment(env);
    assert.equal(figures.foreignOnTopic, 1);
    assert.ok(
      found(differences, { projection: 'topic', table: env.config.kafka.ordersTopic, field: 'record' }),
      JSON.stringify(differences),
    );
    // The projections' offsets stop short of the log end now: nothing consumed the record.
    assert.ok(found(differences, { table: 'projection_offsets', field: 'next_offset' }));

    const cli1 = await cli();
    assert.equal(cli1.code, 1, `${cli1.stdout}\n${cli1.stderr}`);
    assert.match(
      cli1.stdout,
      new RegExp(
        `difference: topic ${env.config.kafka.ordersTopic.replaceAll('.', '\\.')} \\d+@\\d+ record: .*${eventId}`,
      ),
    );
    const narrowed = await cli('--projection', 'sales', '--skip-topics');
    assert.equal(narrowed.code, 0, `the database alone still agrees: ${narrowed.stdout}\n${narrowed.stderr}`);
    console.log(
      `FIGURE verify planted: the command line reported ${cli1.stdout.split('\n').filter((line) => line.startsWith('difference: ')).length} differences for one foreign record`,
    );

    // Once an operator has decided on the record it is known: told as info, no longer a difference.
    const [partition, offset] = (found(differences, { projection: 'topic', field: 'record' })?.key ?? '').split('@');
    await env.readDb.query(
      `INSERT INTO projection_decisions (projection, decision, topic, partition, "offset", reason) VALUES ('order-view', 'discarded', $1, $2, $3, 'not ours')`,
      [env.config.kafka.ordersTopic, Number(partition), offset],
    );
    const known = await verifyEnvironment(env);
    assert.equal(known.figures.foreignOnTopic, 0);
    assert.equal(known.figures.knownForeignOnTopic, 1);
    assert.equal(found(known.differences, { projection: 'topic' }), undefined);
  });
});
