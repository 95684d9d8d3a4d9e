import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { CommandApiModule } from '@app/command-api';
import { QueryApiModule } from '@app/query-api';
import {
  AcknowledgedCommands,
  TEST_ADMIN_TOKEN,
  assertGuarantees,
  createTestEnvironment,
  inParallel,
  rawHttpRequest,
  reportFigure,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  startTestApp,
  type RawResponse,
  type RunningSystem,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const SEED = 13;

/**
 * Every admin endpoint (grep AdminTokenGuard), with arguments that would act if admitted: the query
 * API's, and the command API's one (the outbox backlog, which the operations page reads through the
 * query API).
 */
const ENDPOINTS: readonly { app?: 'command'; method: string; path: string; body?: string }[] = [
  { method: 'GET', path: '/admin/projections' },
  { method: 'POST', path: '/admin/projections/order-view/rebuild' },
  { method: 'POST', path: '/admin/projections/sales/rebuild', body: '{}' },
  { method: 'GET', path: '/admin/projections/order-view/rebuilds/1' },
  { method: 'POST', path: '/admin/projections/order-view/rebuilds/1/cancel' },
  { method: 'GET', path: '/admin/parked-events' },
  { method: 'GET', path: '/admin/parked-events?projection=order-view&limit=5' },
  { method: 'POST', path: `/admin/parked-events/orders/${randomUUID()}/retry` },
  { method: 'DELETE', path: '/admin/parked-events/1' },
  // The guard runs before validation: even a malformed name or id answers 401, not 400.
  { method: 'POST', path: '/admin/projections/NO_SUCH..%2F/rebuild' },
  { method: 'DELETE', path: '/admin/parked-events/not-a-number' },
  { method: 'GET', path: '/admin/outbox' },
  { app: 'command', method: 'GET', path: '/admin/outbox' },
];

/** Each entry: the Authorization header lines sent (none, one, or two). */
const token = TEST_ADMIN_TOKEN;
const CREDENTIALS: readonly (readonly string[])[] = [
  [],
  ['Authorization: '],
  ['Authorization: Bearer'],
  ['Authorization: Bearer '],
  [`Authorization: Bearer ${'x'.repeat(token.length)}`], // wrong, same length
  [`Authorization: Bearer ${token.slice(0, -1)}`], // a prefix of the token
  [`Authorization: Bearer ${token}x`], // the token and one more character
  [`Authorization: Bearer ${token.toUpperCase()}`],
  [`Authorization: Bearer ${'y'.repeat(600)}`], // longer than any token the guard reads
  [`Authorization: Bearer  ${token}`], // two spaces
  [`Authorization: Bearer\t${token}`],
  [`Authorization: bearer ${token}`],
  [`Authorization: BEARER ${token}`],
  [`Authorization: Basic ${Buffer.from(`admin:${token}`).toString('base64')}`],
  ['Authorization: Basic x'],
  [`Authorization: Token ${token}`],
  [`Authorization: ${token}`],
  [`Authorization: Bearer "${token}"`],
  [`Authorization: Bearer ${token},`],
  [`Authorization: Bearer ${token} ${token}`],
  [`Authorization: Bearer ${token}, Bearer ${token}`],
  [`Authorization: Bearer ${token}\u00e9`],
  [`X-Admin-Token: ${token}`],
  [`Authorization: Bearer wrong-token-wrong-token`, `Authorization: Bearer ${token}`],
  [`Authorization: Bearer ${token}`, `Authorization: Bearer wrong-token-wrong-token`],
  [`Authorization: Bearer ${token}`, 'Authorization: Basic x'],
];

/**
 * Scenario 13: every admin endpoint, with every way of not holding the token, answers 401 with the
 * contract's body and WWW-Authenticate, and nothing starts: no rebuild recorded, no schema created,
 * nothing parked or unparked. Requests are written byte for byte (rawHttpRequest), so that malformed
 * headers reach the server exactly as sent.
 */
describe('fault: admin endpoints without the right token', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let closedAdmin: TestApp | undefined;
  let closedCommand: TestApp | undefined;
  const urls = { query: '', command: '', closed: '', closedCommand: '' };

  before(async () => {
    env = await createTestEnvironment('admin_auth', { partitions: 2 });
    system = await startSystem(env.config);
    // A second query API with ADMIN_TOKEN unset: admin is closed to everyone.
    closedAdmin = await startTestApp(QueryApiModule, { ...env.config, adminToken: undefined });
    // And a command API so (its relay off: the system's relay publishes).
    closedCommand = await startTestApp(CommandApiModule, {
      ...env.config,
      adminToken: undefined,
      relay: { ...env.config.relay, enabled: false },
    });
    for (const [name, app] of [
      ['query', system.queryApi],
      ['command', system.commandApi],
      ['closed', closedAdmin],
      ['closedCommand', closedCommand],
    ] as const) {
      await app.listen(0, '127.0.0.1');
      urls[name] = await app.getUrl();
    }
  });

  after(async () => {
    await closedAdmin?.close();
    await closedCommand?.close();
    await system.close();
    await env.dispose();
  });

  const sideEffects = async (): Promise<unknown> => {
    const { rows } = await env.readDb.query(
      `SELECT (SELECT count(*)::int FROM projection_rebuilds) AS rebuilds,
              (SELECT count(*)::int FROM parked_events) AS parked,
              (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace) AS schemas,
              (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relkind IN ('r', 'v', 'S')) AS relations`,
    );
    return rows[0];
  };

  const assertUnauthorized = (response: RawResponse, what: string): void => {
    assert.equal(response.status, 401, `${what}: ${response.body}`);
    assert.deepEqual(
      JSON.parse(response.body),
      { statusCode: 401, error: 'Unauthorized', message: 'a valid admin bearer token is required' },
      what,
    );
    assert.deepEqual(response.headers['www-authenticate'], ['Bearer realm="admin"'], what);
  };

  it('answers 401 with the contract body to every request without the token, and starts nothing', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const random = seededRandom(SEED);
    await inParallel(20, 2, async () => {
      await runRandomLifecycle(
        system.commandApi.getHttpServer(),
        seededRandom(Math.floor(random() * 2 ** 32)),
        undefined,
        {
          onAcknowledged: (orderId, version, eventType) => {
            acknowledged.record(orderId, version, eventType);
          },
        },
      );
    });
    const before = await sideEffects();

    let refused = 0;
    for (const endpoint of ENDPOINTS) {
      const body = endpoint.body === undefined ? {} : { body: endpoint.body };
      const contentType = endpoint.body === undefined ? [] : ['Content-Type: application/json'];
      const [url, closedUrl] =
        endpoint.app === 'command' ? [urls.command, urls.closedCommand] : [urls.query, urls.closed];
      for (const lines of CREDENTIALS) {
        const response = await rawHttpRequest(url, {
          method: endpoint.method,
          path: endpoint.path,
          headerLines: [...contentType, ...lines],
          ...body,
        }).catch((error: unknown) => {
          throw new Error(`${endpoint.method} ${endpoint.path} with ${JSON.stringify(lines)}: ${String(error)}`);
        });
        assertUnauthorized(response, `${endpoint.method} ${endpoint.path} with ${JSON.stringify(lines)}`);
        refused++;
      }
      // With ADMIN_TOKEN unset, even the test token is refused.
      const closed = await rawHttpRequest(closedUrl, {
        method: endpoint.method,
        path: endpoint.path,
        headerLines: [...contentType, `Authorization: Bearer ${token}`],
        ...body,
      });
      assertUnauthorized(closed, `${endpoint.method} ${endpoint.path} on an API without ADMIN_TOKEN`);
      refused++;
    }
    assert.deepEqual(
      await sideEffects(),
      before,
      'no rebuild recorded, no schema or table created, nothing parked or unparked',
    );

    // Controls: the very same requests with the right token are admitted (reads only, so nothing starts),
    // and the command API has no admin surface beyond the outbox backlog.
    const admitted = await rawHttpRequest(urls.query, {
      method: 'GET',
      path: '/admin/projections',
      headerLines: [`Authorization: Bearer ${token}`],
    });
    assert.equal(admitted.status, 200, admitted.body);
    const missing = await rawHttpRequest(urls.query, {
      method: 'GET',
      path: '/admin/projections/order-view/rebuilds/1',
      headerLines: [`Authorization: Bearer ${token}`],
    });
    assert.equal((JSON.parse(missing.body) as { code?: string }).code, 'REBUILD_NOT_FOUND');
    const backlog = await rawHttpRequest(urls.command, {
      method: 'GET',
      path: '/admin/outbox',
      headerLines: [`Authorization: Bearer ${token}`],
    });
    assert.equal(backlog.status, 200, backlog.body);
    for (const path of ['/admin/projections', '/admin/parked-events']) {
      assert.equal(
        (await rawHttpRequest(urls.command, { method: 'GET', path, headerLines: [`Authorization: Bearer ${token}`] }))
          .status,
        404,
        `command API ${path}`,
      );
    }
    assert.deepEqual(await sideEffects(), before);

    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(
      refused,
      ENDPOINTS.length * (CREDENTIALS.length + 1),
      'every endpoint was asked with every credential variant, and refused',
    );
    reportFigure('admin-auth', {
      endpoints: ENDPOINTS.length,
      credentialVariants: CREDENTIALS.length + 1,
      requests: refused,
      answeredUnauthorized: refused,
      admitted: 0,
      rebuildsStarted: 0,
      schemasCreated: 0,
      readModelsEqualToFold: true,
      acknowledged: figures.acknowledged,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
