import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { CommandApiModule, setupOpenApi } from '@app/command-api';
import { ProjectionWorkerModule, attachProjectionsTransport } from '@app/projection-worker';
import { QueryApiModule, setupQueryApiOpenApi } from '@app/query-api';
import {
  ADMIN_AUTH,
  OpenApiChecker,
  createTestEnvironment,
  eventually,
  placeOrderBody,
  startTestApp,
  type TestApp,
  type TestEnvironment,
  type TestServer,
} from '@app/testing';

interface Call {
  readonly body?: unknown;
  /** A body sent as it is, with this Content-Type, instead of JSON. */
  readonly raw?: { readonly type: string; readonly text: string };
  readonly headers?: Record<string, string>;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | undefined>;
  readonly body: Record<string, unknown>;
}

/** A client of one API that holds every answer to the API's own served document. */
function documentedClient(server: TestServer, checker: OpenApiChecker) {
  return async (method: 'get' | 'post' | 'delete', url: string, expected: number, call: Call = {}): Promise<Answer> => {
    let test = request(server)[method](url);
    for (const [name, value] of Object.entries(call.headers ?? {})) test = test.set(name, value);
    if (call.raw) test = test.set('Content-Type', call.raw.type).send(call.raw.text);
    else if (call.body !== undefined) test = test.send(call.body as object);
    const response = await test;
    const where = `${method.toUpperCase()} ${url}`;
    assert.equal(response.status, expected, `${where} answered ${String(response.status)}: ${response.text}`);
    const problems = checker.problems({
      method,
      url,
      status: response.status,
      contentType: response.headers['content-type'],
      text: response.text,
    });
    assert.deepEqual(problems, [], `${where} breaks the served OpenAPI document`);
    return {
      status: response.status,
      headers: response.headers,
      body: (response.body ?? {}) as Record<string, unknown>,
    };
  };
}

/**
 * A scripted session of every endpoint of the command API and the query API, admin endpoints
 * included, through successes and every error status that can be brought about from outside
 * (the 500 and 503 of an unreadable history included), each answer held by an independent
 * validator (openapi-backend) to the document the API itself serves at /docs/openapi.json: a
 * status the operation does not document, or a body that breaks its schema, fails the test.
 */
describe('every answer of both APIs holds to their served OpenAPI documents', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  let worker: TestApp | undefined;
  let queryApi: TestApp;
  let command: ReturnType<typeof documentedClient>;
  let query: ReturnType<typeof documentedClient>;
  const checkers: Record<'command' | 'query', OpenApiChecker | undefined> = { command: undefined, query: undefined };

  before(async () => {
    env = await createTestEnvironment('openapi_session');
    // A short minVersion wait: the session brings about READ_MODEL_BEHIND without waiting 5 s for it.
    const config = { ...env.config, query: { ...env.config.query, minVersionWaitMs: 300 } };
    // The command API listens on a port of its own: the query API's GET /admin/outbox asks it over HTTP.
    commandApi = await startTestApp(CommandApiModule, config, setupOpenApi);
    await commandApi.listen(0, '127.0.0.1');
    const { port } = (commandApi.getHttpServer() as unknown as { address(): AddressInfo }).address();
    const queryConfig = { ...config, http: { ...config.http, commandApiUrl: `http://127.0.0.1:${String(port)}` } };
    [worker, queryApi] = await Promise.all([
      startTestApp(ProjectionWorkerModule, config, async (app) => {
        attachProjectionsTransport(app);
        await app.startAllMicroservices();
      }),
      startTestApp(QueryApiModule, queryConfig, setupQueryApiOpenApi),
    ]);
    for (const [name, app] of [
      ['command', commandApi],
      ['query', queryApi],
    ] as const) {
      const served = await request(app.getHttpServer()).get('/docs/openapi.json').expect(200);
      checkers[name] = await OpenApiChecker.of(served.body);
    }
    command = documentedClient(commandApi.getHttpServer(), checker('command'));
    query = documentedClient(queryApi.getHttpServer(), checker('query'));
  });

  after(async () => {
    await Promise.all([commandApi.close(), worker?.close(), queryApi.close()]);
    await env.dispose();
  });

  function checker(name: 'command' | 'query'): OpenApiChecker {
    const found = checkers[name];
    assert.ok(found, `the ${name} API's document was not loaded`);
    return found;
  }

  /** An event written straight into the store, as another deployment would have; never relayed. */
  async function storeEvent(orderId: string, schemaVersion: number, data: object): Promise<void> {
    await env.db.query(
      `INSERT INTO events (event_id, order_id, version, type, schema_version, data, metadata, occurred_at)
       VALUES ($1, $2, 1, 'OrderPlaced', $3, $4, '{"correlationId": "old", "causationId": "old"}', now())`,
      [randomUUID(), orderId, schemaVersion, JSON.stringify(data)],
    );
  }

  let orderId = '';
  const unknownOrder = randomUUID();

  it('command API: places orders, and answers 400, 409, 413, 415 and 422 as documented', async () => {
    const placed = await command('post', '/orders', 201, { body: placeOrderBody({ customerId: 'openapi-1' }) });
    orderId = String(placed.body.orderId);
    const keyed = { headers: { 'Idempotency-Key': 'openapi-session-1' } };
    await command('post', '/orders', 201, { ...keyed, body: placeOrderBody({ customerId: 'openapi-2' }) });
    const replayed = await command('post', '/orders', 201, {
      ...keyed,
      body: placeOrderBody({ customerId: 'openapi-2' }),
    });
    assert.equal(replayed.headers['idempotent-replayed'], 'true');
    await command('post', '/orders', 422, { ...keyed, body: placeOrderBody({ customerId: 'someone-else' }) });

    const invalid = await command('post', '/orders', 400, { body: placeOrderBody({ lines: [], color: 'red' }) });
    assert.ok(Array.isArray(invalid.body.fields) && invalid.body.fields.length > 0, 'the 400 names the fields');
    await command('post', '/orders', 400, { raw: { type: 'application/json', text: '{"customerId":' } });
    await command('post', '/orders', 400, { body: placeOrderBody(), headers: { 'Idempotency-Key': 'ü' } });
    const line = { sku: 'TWICE', quantity: 1, unitPriceMinor: 100 };
    await command('post', '/orders', 409, { body: placeOrderBody({ lines: [line, line] }) });
    await command('post', '/orders', 413, {
      raw: { type: 'application/json', text: JSON.stringify({ pad: 'x'.repeat(70_000) }) },
    });
    await command('post', '/orders', 415, { raw: { type: 'text/plain', text: 'an order, please' } });
  });

  it('command API: takes every command of an order through its life, with 400, 404, 409 and 412 on the way', async () => {
    const order = `/orders/${orderId}`;
    await command('post', `${order}/lines`, 200, { body: { sku: 'PEN-1', quantity: 3, unitPriceMinor: 150 } });
    await command('post', `${order}/lines`, 400, { body: { sku: 'PEN-2', quantity: 0, unitPriceMinor: 150 } });
    await command('post', `${order}/lines`, 412, {
      body: { sku: 'PEN-2', quantity: 1, unitPriceMinor: 150 },
      headers: { 'If-Match': '"1"' },
    });
    await command('post', `/orders/${unknownOrder}/lines`, 404, {
      body: { sku: 'PEN-2', quantity: 1, unitPriceMinor: 1 },
    });
    await command('post', '/orders/not-a-uuid/lines', 400, { body: { sku: 'PEN-2', quantity: 1, unitPriceMinor: 1 } });
    await command('delete', `${order}/lines/PEN-1`, 200);
    await command('delete', `${order}/lines/NO-SUCH-LINE`, 404);
    await command('delete', `${order}/lines/PEN-1`, 400, { body: { reason: 'no body here' } });
    await command('post', `${order}/ship`, 409, { body: { carrier: 'DHL', trackingNumber: 'T-1' } });
    await command('post', `${order}/confirm`, 200, { body: { paymentReference: 'pay-1' } });
    await command('post', `${order}/lines`, 409, { body: { sku: 'LATE-1', quantity: 1, unitPriceMinor: 1 } });
    await command('post', `${order}/ship`, 200, { body: { carrier: 'DHL', trackingNumber: 'T-1' } });
    await command('post', `${order}/deliver`, 200);
    await command('post', `${order}/cancel`, 409, { body: { reason: 'too late' } });
    await command('post', `${order}/return`, 200, { body: { reason: 'did not fit' } });

    const other = await command('post', '/orders', 201, { body: placeOrderBody({ customerId: 'openapi-3' }) });
    await command('post', `/orders/${String(other.body.orderId)}/cancel`, 200, { body: { reason: 'changed my mind' } });
    await command('post', `/orders/${String(other.body.orderId)}/return`, 409, { body: { reason: 'never delivered' } });
  });

  it('command API: answers 503 for a history a newer deployment wrote, and 500 for one that cannot be read', async () => {
    const newer = randomUUID();
    await storeEvent(newer, 99, placeOrderBody());
    const refused = await command('post', `/orders/${newer}/confirm`, 503, { body: { paymentReference: 'p' } });
    assert.equal(refused.body.code, 'EVENT_VERSION_NEWER_THAN_SERVICE');
    const broken = randomUUID();
    await storeEvent(broken, 1, { customerId: 42 });
    const failed = await command('post', `/orders/${broken}/confirm`, 500, { body: { paymentReference: 'p' } });
    assert.equal(failed.body.code, 'EVENT_UNREADABLE');
  });

  it('query API: reads orders, customers and statistics, with 304, 400, 404 and 409', async () => {
    const order = `/orders/${orderId}`;
    const read = await query('get', `${order}?minVersion=7`, 200);
    const etag = read.headers.etag;
    assert.equal(etag, '"7"');
    await query('get', order, 304, { headers: { 'If-None-Match': etag } });
    await query('get', `${order}?minVersion=99`, 409);
    await query('get', `/orders/${unknownOrder}`, 404);
    await query('get', '/orders/not-a-uuid', 400);
    await query('get', `${order}?minVersion=0`, 400);
    await query('get', `${order}?colour=red`, 400);

    const page = await query('get', '/orders?customerId=openapi-1&limit=1', 200);
    assert.equal((page.body.items as unknown[]).length, 1);
    await query('get', '/orders?status=RETURNED', 200);
    await query('get', '/orders?limit=0', 400);
    await query('get', '/orders?cursor=not-a-cursor', 400);

    await eventually(async () => {
      await query('get', '/customers/openapi-1', 200);
    });
    await query('get', '/customers/nobody-at-all', 404);

    const now = Date.now();
    const from = new Date(now - 3_600_000).toISOString();
    const to = new Date(now + 3_600_000).toISOString();
    await eventually(async () => {
      const sales = await query('get', `/stats/sales?granularity=5m&from=${from}&to=${to}`, 200);
      const buckets = sales.body.buckets as { orders: number }[];
      assert.ok(
        buckets.some((bucket) => bucket.orders > 0),
        'the orders placed are counted',
      );
    });
    await query('get', '/stats/sales?granularity=2m', 400);
    await query('get', `/stats/sales?granularity=1h&from=${to}&to=${from}`, 400);
    await query('get', `/stats/top-skus?from=${from}&to=${to}&limit=5`, 200);
    await query('get', '/stats/top-skus?limit=101', 400);
  });

  it('query API admin: parked events listed, retried and discarded; 401 without the token, 400 and 404', async () => {
    const poisoned = randomUUID();
    const producer = env.kafka.producer();
    await producer.connect();
    try {
      await producer.send({
        topic: env.config.kafka.ordersTopic,
        messages: [{ key: poisoned, value: 'not an event' }],
      });
    } finally {
      await producer.disconnect();
    }
    const parkedEvents = async (): Promise<{ id: string; projection: string }[]> => {
      const listed = await query('get', `/admin/parked-events?orderId=${poisoned}`, 200, { headers: ADMIN_AUTH });
      return listed.body.items as { id: string; projection: string }[];
    };
    await eventually(async () => {
      assert.ok(
        (await parkedEvents()).some((item) => item.projection === 'order-view'),
        'the poison is parked',
      );
    });
    await query('get', '/admin/parked-events', 401);
    await query('get', '/admin/parked-events', 401, { headers: { Authorization: 'Bearer wrong-token-0123456789' } });
    await query('get', '/admin/parked-events?limit=0', 400, { headers: ADMIN_AUTH });

    const retry = `/admin/parked-events/orders/${poisoned}/retry`;
    const retried = await query('post', `${retry}?projection=order-view`, 200, { headers: ADMIN_AUTH });
    assert.deepEqual(retried.body, { 'order-view': { applied: 0, stillParked: 1 } });
    await query('post', retry, 200, { headers: ADMIN_AUTH });
    await query('post', `${retry}?projection=no-such-projection`, 404, { headers: ADMIN_AUTH });
    await query('post', retry, 401);
    await query('post', retry, 415, { headers: ADMIN_AUTH, raw: { type: 'text/plain', text: 'please' } });

    const [first] = await parkedEvents(); // a retry parks what still fails again, under a new id
    assert.ok(first);
    await query('delete', `/admin/parked-events/${first.id}`, 401);
    await query('delete', `/admin/parked-events/${first.id}`, 200, { headers: ADMIN_AUTH });
    await query('delete', `/admin/parked-events/${first.id}`, 404, { headers: ADMIN_AUTH });
    await query('delete', '/admin/parked-events/not-a-number', 400, { headers: ADMIN_AUTH });
  });

  it('query API admin: projections listed, a rebuild requested, refused twice, followed and cancelled', async () => {
    await eventually(async () => {
      const listed = await query('get', '/admin/projections', 200, { headers: ADMIN_AUTH });
      const items = listed.body.items as { name: string; state: string }[];
      assert.ok(items.length > 0 && items.every((item) => item.state === 'live'), JSON.stringify(items));
    });
    await query('get', '/admin/projections', 401);
    // Without a worker a requested rebuild stays requested: the session decides when it ends.
    await worker?.close();
    worker = undefined;

    const projections = '/admin/projections';
    const requested = await query('post', `${projections}/order-view/rebuild`, 202, { headers: ADMIN_AUTH });
    const statusUrl = String(requested.body.statusUrl);
    assert.equal(requested.headers.location, statusUrl);
    const again = await query('post', `${projections}/order-view/rebuild`, 409, { headers: ADMIN_AUTH });
    assert.equal(again.body.code, 'REBUILD_IN_PROGRESS');
    await query('post', `${projections}/no-such-projection/rebuild`, 404, { headers: ADMIN_AUTH });
    await query('post', `${projections}/Not_A_Name/rebuild`, 400, { headers: ADMIN_AUTH });
    await query('post', `${projections}/order-view/rebuild`, 401);
    await query('post', `${projections}/order-view/rebuild`, 413, {
      headers: ADMIN_AUTH,
      raw: { type: 'application/json', text: JSON.stringify({ pad: 'x'.repeat(70_000) }) },
    });

    await query('get', statusUrl, 200, { headers: ADMIN_AUTH });
    await query('get', statusUrl, 401);
    await query('get', `${projections}/order-view/rebuilds/999999`, 404, { headers: ADMIN_AUTH });
    await query('get', `${projections}/order-view/rebuilds/abc`, 400, { headers: ADMIN_AUTH });

    const cancelled = await query('post', `${statusUrl}/cancel`, 202, { headers: ADMIN_AUTH });
    assert.equal((cancelled.body.rebuild as { state: string }).state, 'cancelled');
    const finished = await query('post', `${statusUrl}/cancel`, 409, { headers: ADMIN_AUTH });
    assert.equal(finished.body.code, 'REBUILD_FINISHED');
    await query('post', `${projections}/order-view/rebuilds/999999/cancel`, 404, { headers: ADMIN_AUTH });
    await query('post', `${statusUrl}/cancel`, 401);
    // The last rebuild is now a cancelled one, with its progress still null: listed as such.
    await query('get', projections, 200, { headers: ADMIN_AUTH });
  });

  it('both APIs admin: the outbox backlog, 401 without the token, and 503 from a query API whose command API does not answer', async () => {
    const own = await command('get', '/admin/outbox', 200, { headers: ADMIN_AUTH });
    // Whichever relay publishes (OUTBOX_RELAY=debezium npm test: Debezium), the answer says which.
    const { mode, captureSlot } = env.config.relay;
    assert.equal(own.body.relay, mode);
    if (mode === 'in-process') {
      assert.equal(typeof own.body.backlogEvents, 'number');
      assert.equal(own.body.captureSlot, null, 'no capture slot without Debezium');
    } else {
      assert.equal(own.body.backlogEvents, null, 'Debezium keeps no events in the outbox to count');
      const slot = own.body.captureSlot as { name: string; present: boolean };
      assert.deepEqual([slot.name, slot.present], [captureSlot, true], "the connector's slot, there");
    }
    await command('get', '/admin/outbox', 401);
    await command('get', '/admin/outbox', 401, { headers: { Authorization: 'Bearer wrong-token-0123456789' } });
    const relayed = await query('get', '/admin/outbox', 200, { headers: ADMIN_AUTH });
    assert.deepEqual(Object.keys(relayed.body).sort(), [
      'backlogEvents',
      'captureSlot',
      'oldestEventAgeSeconds',
      'relay',
    ]);
    assert.equal(relayed.body.relay, mode, "the command API's answer, passed on");
    await query('get', '/admin/outbox', 401);

    // Port 1: nothing listens there, so the ask is refused at once.
    const orphan = await startTestApp(
      QueryApiModule,
      { ...env.config, http: { ...env.config.http, commandApiUrl: 'http://127.0.0.1:1' } },
      setupQueryApiOpenApi,
    );
    try {
      const unavailable = await documentedClient(orphan.getHttpServer(), checker('query'))(
        'get',
        '/admin/outbox',
        503,
        {
          headers: ADMIN_AUTH,
        },
      );
      assert.equal(unavailable.body.code, 'COMMAND_API_UNAVAILABLE');
    } finally {
      await orphan.close();
    }
  });

  it('exercised every operation of both documents', () => {
    for (const name of ['command', 'query'] as const) {
      const exercised = new Set([...checker(name).seen].map((seen) => seen.split(' ')[0]));
      const missed = checker(name)
        .operationIds()
        .filter((id) => !exercised.has(id));
      assert.deepEqual(missed, [], `${name} API operations the session never called`);
    }
  });
});
