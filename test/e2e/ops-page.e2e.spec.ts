import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import type { Browser, Locator, Page } from 'playwright-core';
import request from 'supertest';

import { CommandApiModule } from '@app/command-api';
import { EventPublisher, orderEventsTopic } from '@app/messaging';
import { ProjectionWorkerModule, attachProjectionsTransport } from '@app/projection-worker';
import { LIVE_GENERATION_LOCK, projections } from '@app/projections';
import { QueryApiModule } from '@app/query-api';
import {
  ADMIN_AUTH,
  TEST_ADMIN_TOKEN,
  createTestEnvironment,
  eventually,
  launchChromium,
  listParkedEvents,
  placeOrderBody,
  seedEventStore,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

/** Set to a directory (docs/images) to write the README's screenshots while the test runs. */
const SCREENSHOTS = process.env.OPS_PAGE_SCREENSHOTS?.trim();
const NAMES = projections.map((projection) => projection.name);

async function connect(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  return client;
}

async function listen(app: TestApp): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as unknown as { address(): AddressInfo }).address();
  return `http://127.0.0.1:${String(port)}`;
}

/**
 * The operations page in a real browser (headless Debian Chromium through playwright-core) against
 * the three apps on a test environment: a wrong token is refused, the projections and the outbox are
 * shown, parked events are discarded and retried, and rebuilds are started, followed to 100 % and
 * cancelled, each action through its confirmation. Rebuilds are held by locks, never by timing: one
 * part-way (an uncommitted row its batch must wait for), one before its switch (the live generation's
 * lock held shared, as admin-rebuild.e2e does).
 */
describe('operations page at /admin/ui, in Chromium', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  let queryApi: TestApp;
  let worker: TestApp;
  let browser: Browser | undefined;
  let page: Page;
  let baseUrl: string;
  let holder: pg.Client | undefined;
  let blocker: pg.Client | undefined;
  let gate: pg.Client | undefined;
  const requested: string[] = [];

  const shot = async (name: string): Promise<void> => {
    if (!SCREENSHOTS) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  };
  const row = (name: string): Locator => page.locator(`#projection-rows tr[data-projection="${name}"]`);
  const card = (projection: string): Locator =>
    page
      .locator('#rebuilds article')
      .filter({ has: page.getByRole('heading', { name: new RegExp(`^${projection} ·`) }) });
  const confirmDialog = async (label: string): Promise<void> => {
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor({ state: 'visible' });
    assert.equal(await page.locator('#confirm-ok').textContent(), label);
    await page.locator('#confirm-ok').click();
    await dialog.waitFor({ state: 'hidden' });
  };
  const projectionStatus = async (name: string) => {
    const { items } = (await request(queryApi.getHttpServer()).get('/admin/projections').set(ADMIN_AUTH).expect(200))
      .body as {
      items: { name: string; lastRebuild: { id: string; state: string; schemaName: string | null } | null }[];
    };
    return items.find((item) => item.name === name);
  };

  before(async () => {
    browser = await launchChromium(); // first: without Chromium the test fails here, naming the fix
    env = await createTestEnvironment('ops_page', { partitions: 3, relay: 'in-process' }); // seedEventStore fills the in-process outbox
    commandApi = await startTestApp(CommandApiModule, env.config);
    const commandApiUrl = await listen(commandApi);
    queryApi = await startTestApp(QueryApiModule, { ...env.config, http: { ...env.config.http, commandApiUrl } });
    baseUrl = await listen(queryApi);
    worker = await startTestApp(ProjectionWorkerModule, env.config, async (app) => {
      attachProjectionsTransport(app);
      await app.startAllMicroservices();
    });
    await seedEventStore(env.db, 1_000); // a log of some size: 4,000 events for the rebuilds to fill
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('request', (sent) => requested.push(sent.url()));
  });

  after(async () => {
    if (!browser) return; // Chromium missing: nothing else was started
    await holder?.end();
    await blocker?.end();
    await gate?.end();
    await browser.close();
    await Promise.all([commandApi.close(), queryApi.close(), worker.close()]);
    await env.dispose();
  });

  it('refuses a wrong token on the page: an error shown, nothing loaded, nothing kept', async () => {
    await page.goto(`${baseUrl}/admin/ui`);
    await page.locator('#token').fill('not-the-admin-token-0000');
    await shot('ops-login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    assert.match((await error.textContent()) ?? '', /refused \(401\)/);
    assert.equal(await page.locator('#console').isHidden(), true);
    assert.equal(await page.evaluate<number>('sessionStorage.length'), 0, 'a refused token is not kept');
    assert.equal(page.url(), `${baseUrl}/admin/ui`, 'the token never reaches the URL');
    // The page's own files are public; its data is not.
    await request(queryApi.getHttpServer()).get('/admin/projections').set('Authorization', 'Bearer wrong').expect(401);
  });

  it('signs in with the admin token and shows every projection live, with lag per partition, and the outbox drained', async () => {
    await page.locator('#token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#console').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate<string | null>("sessionStorage.getItem('orders.adminToken')"), TEST_ADMIN_TOKEN);
    assert.equal(page.url(), `${baseUrl}/admin/ui`);
    await eventually(
      async () => {
        const rows = await page.locator('#projection-rows tr').all();
        assert.deepEqual(await Promise.all(rows.map((tr) => tr.getAttribute('data-projection'))), NAMES);
        for (const name of NAMES) {
          assert.equal(await row(name).locator('[data-testid=state]').textContent(), 'live', name);
          assert.equal(await row(name).locator('[data-testid=generation]').textContent(), 'g1 (v1)', name);
          assert.equal(await row(name).locator('[data-testid=lag]').textContent(), '0', `${name} caught up`);
          assert.equal(await row(name).locator('.partitions span').count(), 3, `${name}: one lag per partition`);
        }
        assert.equal(await page.locator('#outbox-backlog').textContent(), '0 events');
        assert.equal(await page.locator('#outbox-age').textContent(), 'nothing waiting');
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  it('shows parked events; discarding the poison and retrying the order applies what waited behind it', async () => {
    const { orderId } = (await request(commandApi.getHttpServer()).post('/orders').send(placeOrderBody()).expect(201))
      .body as { orderId: string };
    await eventually(async () => {
      await request(queryApi.getHttpServer()).get(`/orders/${orderId}`).expect(200);
    });
    // Poison as a neighbour could write it (poison.e2e does the same), then an event parked behind it.
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    await publisher.publish([{ key: orderId, value: Buffer.from([0xde, 0xad, 0xbe, 0xef]), headers: {} }]);
    await publisher.close();
    await request(commandApi.getHttpServer())
      .post(`/orders/${orderId}/confirm`)
      .send({ paymentReference: 'pay-ops-page' })
      .expect(200);

    const rows = page.locator('#parked-rows tr');
    await eventually(
      async () => {
        assert.equal(await rows.count(), 2 * NAMES.length, 'per projection: the poison and the event behind it');
        for (const name of NAMES) assert.equal(await row(name).locator('[data-testid=parked]').textContent(), '2');
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await shot('ops-projections');

    for (const name of NAMES) {
      const poison = rows.filter({ hasText: 'poison (dead-lettered)' }).filter({ hasText: name }).first();
      const id = await poison.getAttribute('data-parked');
      await poison.getByRole('button', { name: 'Discard' }).click();
      await confirmDialog('Discard');
      await page.locator(`#parked-rows tr[data-parked="${String(id)}"]`).waitFor({ state: 'detached' });
    }
    const waiting = rows.filter({ hasText: 'order-view' });
    assert.equal(await waiting.count(), 1);
    await waiting.getByRole('button', { name: 'Retry' }).click();
    await confirmDialog('Retry');
    await eventually(async () => {
      assert.match((await page.locator('#notice').textContent()) ?? '', /order-view: 1 applied, 0 still parked/);
      assert.equal(await row('order-view').locator('[data-testid=parked]').textContent(), '0');
    });
    const view = await request(queryApi.getHttpServer()).get(`/orders/${orderId}`).expect(200);
    assert.equal((view.body as { status: string }).status, 'CONFIRMED');
    assert.equal(
      (await listParkedEvents(queryApi.getHttpServer())).filter((item) => item.projection === 'order-view').length,
      0,
    );
  });

  it('asks before rebuilding: going back requests nothing', async () => {
    await row('order-view').getByRole('button', { name: 'Rebuild' }).click();
    await page.locator('dialog#confirm').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Back' }).click();
    await page.locator('dialog#confirm').waitFor({ state: 'hidden' });
    assert.equal((await projectionStatus('order-view'))?.lastRebuild, null, 'no rebuild requested');
  });

  it('starts a rebuild, shows its progress live while it is held part-way, follows it to 100 % and the switch, and cancels another', async () => {
    // Two holds make the page show a rebuild part-way on any machine, however fast it fills. First, every
    // batch (live or rebuild) begins by reading the operators' decisions: with that table locked, the
    // rebuild prepares its generation and then waits before applying anything.
    gate = await connect(env.config.readDatabaseUrl);
    await gate.query('BEGIN');
    await gate.query('LOCK TABLE public.projection_decisions IN ACCESS EXCLUSIVE MODE');
    await row('order-view').getByRole('button', { name: 'Rebuild' }).click();
    await confirmDialog('Start rebuild');
    const schema = await eventually(
      async () => {
        const rebuild = (await projectionStatus('order-view'))?.lastRebuild;
        assert.ok(rebuild?.schemaName, 'the rebuild has created its generation');
        const { rows } = await env.readDb.query<{ table: string | null }>(
          'SELECT to_regclass(format($$%I.projection_order_versions$$, $1::text))::text AS table',
          [rebuild.schemaName],
        );
        assert.ok(rows[0]?.table);
        return rebuild.schemaName;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // Second, a version row of one early order written into the new generation and left uncommitted:
    // the batch of the rebuild that holds that order waits on it, so its partition stops short while
    // the others fill.
    const { rows: early } = await env.db.query<{ order_id: string }>(
      "SELECT order_id FROM events WHERE type = 'OrderPlaced' ORDER BY position OFFSET 100 LIMIT 1",
    );
    blocker = await connect(env.config.readDatabaseUrl);
    await blocker.query('BEGIN');
    await blocker.query(
      `INSERT INTO "${schema}".projection_order_versions (projection, order_id, version) VALUES ('order-view', $1, 1)`,
      [early[0]?.order_id],
    );
    await gate.query('COMMIT');

    const rebuild = card('order-view');
    await eventually(
      async () => {
        assert.match(
          (await rebuild.getByRole('heading').textContent()) ?? '',
          /^order-view · rebuild \d+ · running · filling$/,
        );
        const value = Number(await rebuild.locator('progress').getAttribute('value'));
        assert.ok(value > 0 && value < 100, `part-way, got ${String(value)} %`);
        const figures = (await rebuild.locator('[data-testid=rebuild-figures]').textContent()) ?? '';
        assert.match(figures, new RegExp(`^${String(value)} % · [\\d,]+ of 4,003 events · [\\d,]+ events/s · ETA `));
        assert.equal(await row('order-view').locator('[data-testid=state]').textContent(), 'rebuilding');
        assert.equal(await row('order-view').getByRole('button', { name: 'Cancel rebuild' }).count(), 1);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await shot('ops-rebuild');

    // Readers of sales held (as a long query would): its rebuild fills, then waits to switch.
    holder = await connect(env.config.readDatabaseUrl);
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'sales']);
    await row('sales').getByRole('button', { name: 'Rebuild' }).click();
    await confirmDialog('Start rebuild');
    await card('sales').getByRole('button', { name: 'Cancel rebuild' }).click();
    await confirmDialog('Cancel rebuild');
    await eventually(
      async () => {
        assert.match((await card('sales').getByRole('heading').textContent()) ?? '', /· cancelled/);
        assert.equal(await row('sales').locator('[data-testid=state]').textContent(), 'live');
        assert.equal(await row('sales').locator('[data-testid=generation]').textContent(), 'g1 (v1)');
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal((await projectionStatus('sales'))?.lastRebuild?.state, 'cancelled');
    await holder.query('COMMIT');
    assert.ok(Number(await rebuild.locator('progress').getAttribute('value')) < 100, 'order-view still held');

    await blocker.query('ROLLBACK');
    await eventually(
      async () => {
        assert.match((await rebuild.getByRole('heading').textContent()) ?? '', /· switched · done$/);
        assert.equal(await rebuild.locator('progress').getAttribute('value'), '100');
        assert.match(
          (await rebuild.locator('[data-testid=rebuild-figures]').textContent()) ?? '',
          /^100 % · 4,003 of 4,003 events · /,
        );
        assert.equal(await row('order-view').locator('[data-testid=generation]').textContent(), 'g2 (v1)');
        assert.equal(await row('order-view').locator('[data-testid=state]').textContent(), 'live');
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    assert.equal((await projectionStatus('order-view'))?.lastRebuild?.state, 'switched');
  });

  it('loaded nothing from anywhere but the query API, and signing out forgets the token', async () => {
    assert.ok(requested.length > 0);
    assert.deepEqual(
      requested.filter((url) => !url.startsWith(`${baseUrl}/`)),
      [],
      'every request went to the query API',
    );
    for (const path of ['/admin/ui', '/admin/ui/ops.js', '/admin/ui/ops.css'])
      assert.ok(requested.includes(`${baseUrl}${path}`), path);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#login-panel').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate<number>('sessionStorage.length'), 0);
  });

  it('signs out, saying why, when the kept token stops being accepted', async () => {
    await page.evaluate("sessionStorage.setItem('orders.adminToken', 'a-token-the-server-does-not-know')");
    await page.reload();
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    assert.equal(await error.textContent(), 'Signed out: the admin token was refused (401).');
    assert.equal(await page.locator('#console').isHidden(), true);
    assert.equal(await page.evaluate<number>('sessionStorage.length'), 0);
  });
});
