import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';

import type pg from 'pg';
import request from 'supertest';

import {
  AdminCliProcess,
  AppProcess,
  PrivatePostgres,
  configToEnv,
  createTestEnvironment,
  placeOrderBody,
  type TestEnvironment,
} from '@app/testing';

const VERIFY_JS = fileURLToPath(new URL('../../apps/admin-cli/src/verify.js', import.meta.url));
const run = promisify(execFile);
const ORDERS = 6;
const CUSTOMER = 'customer-read-store';

/** The event store's own tables: none of them may hold a row in the read store. */
const WRITE_TABLES = ['events', 'outbox', 'idempotency_keys'];

/**
 * README, configuration: `READ_DATABASE_URL` puts the read models, the projection bookkeeping and the
 * query API on a database of their own, here on another Postgres server (a private cluster), while
 * the event store and the outbox stay on `DATABASE_URL`. Every app runs as its own process from its
 * environment, so this is the deployment as operators configure it; nothing may join across the two.
 */
describe('a read store on another Postgres server (READ_DATABASE_URL)', () => {
  let cluster: PrivatePostgres | undefined;
  let env: TestEnvironment | undefined;
  const apps: AppProcess[] = [];

  before(async () => {
    cluster = await PrivatePostgres.start();
    env = await createTestEnvironment('read_store', { readStore: 'separate', readDatabaseServerUrl: cluster.url });
    for (const app of ['command-api', 'projection-worker', 'query-api'] as const)
      apps.push(new AppProcess(app, env.config));
    await Promise.all(apps.map((app) => app.ready));
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await env?.dispose();
    await cluster?.destroy();
  });

  function started(): { env: TestEnvironment; commandApi: string; worker: string; queryApi: string } {
    const [commandApi, worker, queryApi] = apps;
    assert.ok(env && commandApi && worker && queryApi, 'the environment did not start');
    return { env, commandApi: commandApi.url, worker: worker.url, queryApi: queryApi.url };
  }

  it('places orders through the command API and reads them through the query API; each database holds only its side', async () => {
    const { env, commandApi, worker, queryApi } = started();
    assert.notEqual(new URL(env.config.readDatabaseUrl).port, new URL(env.config.databaseUrl).port, 'two servers');

    const placed: { orderId: string; version: number }[] = [];
    for (let index = 0; index < ORDERS; index++) {
      const response = await request(commandApi)
        .post('/orders')
        .send(
          placeOrderBody({
            customerId: CUSTOMER,
            lines: [{ sku: `SKU-${String(index)}`, quantity: 1, unitPriceMinor: 100 }],
          }),
        )
        .expect(201);
      placed.push(response.body as { orderId: string; version: number });
    }
    const [first] = placed;
    assert.ok(first);
    const confirmed = await request(commandApi)
      .post(`/orders/${first.orderId}/confirm`)
      .send({ paymentReference: 'pay-1' })
      .expect(200);
    first.version = (confirmed.body as { version: number }).version;

    // minVersion waits on the read store's LISTEN/NOTIFY: read-your-writes across the two servers.
    for (const { orderId, version } of placed) {
      const order = await request(queryApi)
        .get(`/orders/${orderId}?minVersion=${String(version)}`)
        .expect(200);
      assert.equal((order.body as { version: number }).version, version);
    }
    const customer = await request(queryApi).get(`/customers/${CUSTOMER}`).expect(200);
    assert.equal((customer.body as { orderCount: number }).orderCount, ORDERS);
    const listed = await request(queryApi).get(`/orders?customerId=${CUSTOMER}&limit=100`).expect(200);
    assert.equal((listed.body as { items: unknown[] }).items.length, ORDERS);
    for (const url of [commandApi, worker, queryApi]) {
      const ready = await request(url).get('/health/ready').expect(200);
      assert.equal((ready.body as { checks: Record<string, string> }).checks.postgres, 'up', url);
    }

    const events = await count(env.db, 'events');
    assert.equal(events, ORDERS + 1, 'the event store holds every event');
    for (const table of WRITE_TABLES) assert.equal(await count(env.readDb, table), 0, `read store: ${table}`);
    const readRows = await readSideRows(env.readDb);
    assert.equal(readRows.get('order_view'), ORDERS, 'the read store holds the order views');
    assert.ok((readRows.get('projection_offsets') ?? 0) > 0, 'and the projections offsets');
    const writeRows = await readSideRows(env.db);
    assert.ok(writeRows.size > 0, 'the event store has the read side tables (one migration history)');
    for (const [table, rows] of writeRows) assert.equal(rows, 0, `event store: ${table} holds no read-side row`);
  });

  it('rebuilds a projection with the replay CLI and verifies both databases with npm run verify', async () => {
    const { env } = started();
    const replay = await new AdminCliProcess(env.config, ['order-view']).exited;
    assert.equal(replay.code, 0, replay.stderr + replay.stdout);
    const { stdout } = await run(process.execPath, [VERIFY_JS], {
      env: { ...process.env, ...configToEnv(env.config) },
      timeout: 120_000,
    });
    assert.match(stdout, /everything agrees with the event store/);
    assert.match(stdout, new RegExp(`${String(ORDERS)} orders, ${String(ORDERS + 1)} events`));
    assert.equal(await count(env.db, 'events'), ORDERS + 1);
    for (const [table, rows] of await readSideRows(env.db)) assert.equal(rows, 0, `event store: ${table}`);
  });
});

async function count(db: pg.Pool, table: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM public.${table}`);
  return rows[0]?.n ?? 0;
}

/**
 * Rows per read-side table, summed over the generations (schemas named in projection_generations,
 * the live ones and any other) and the public bookkeeping tables: keyed by table name.
 */
async function readSideRows(db: pg.Pool): Promise<Map<string, number>> {
  const { rows: tables } = await db.query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE'
        AND (table_schema IN (SELECT schema_name FROM projection_generations)
             OR table_schema LIKE '%\\_g%' ESCAPE '\\'
             OR (table_schema = 'public' AND table_name IN ('projection_decisions', 'projection_rebuilds')))`,
  );
  const counted = new Map<string, number>();
  for (const { schema, name } of tables) {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`,
    );
    counted.set(name, (counted.get(name) ?? 0) + (rows[0]?.n ?? 0));
  }
  return counted;
}
