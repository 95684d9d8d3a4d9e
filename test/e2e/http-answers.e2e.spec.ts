import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  AppProcess,
  RawHttpConnection,
  createTestEnvironment,
  rawHttpRequest,
  type TestEnvironment,
} from '@app/testing';

/**
 * More than loopback's socket buffers hold (tcp_wmem 4 MB plus tcp_rmem up to 32 MB by default): a
 * server that answers and closes without reading it cuts the client off mid-write, every time.
 */
const BODY_BYTES = 48 * 1024 * 1024;
const body = Buffer.alloc(BODY_BYTES, '{"a":');

/**
 * Every request gets its answer. A request refused before its body was read, even when the connection
 * closes after it (`Connection: close`, which rawHttpRequest sends): the server reads the rest of the
 * body before it closes. A request on a connection that sat idle: the server keeps it open longer than
 * it tells clients. The command API runs as its own process, started by its main.js as in production.
 */
describe('every request gets its answer', () => {
  let env: TestEnvironment;
  let commandApi: AppProcess;

  before(async () => {
    env = await createTestEnvironment('http_early_answers', { relayEnabled: false });
    commandApi = new AppProcess('command-api', env.config);
    await commandApi.ready;
  });

  after(async () => {
    await commandApi.stop('SIGTERM');
    await env.dispose();
  });

  const send = (path: string, headerLines: readonly string[]) =>
    rawHttpRequest(commandApi.url, { method: 'POST', path, headerLines, body });

  const cases: readonly { name: string; path: string; headerLines: readonly string[]; status: number }[] = [
    // The http-fuzz request that failed: Node's parser refuses its 20 kB header before any middleware runs.
    {
      name: "headers over Node's 16 kB limit",
      path: '/orders/(9-/lines',
      headerLines: ['Content-Type: application/json', 'Content-Encoding: compress', `X-Huge: ${'h'.repeat(20_000)}`],
      status: 431,
    },
    {
      name: 'headers far over the limit',
      path: '/orders',
      headerLines: ['Content-Type: application/json', `X-Huge: ${'h'.repeat(70_000)}`],
      status: 431,
    },
    {
      name: 'a malformed header line',
      path: '/orders',
      headerLines: ['Content-Type: application/json', 'Bad Header: x'],
      status: 400,
    },
    { name: 'a body that is not JSON', path: '/orders', headerLines: ['Content-Type: text/plain'], status: 415 },
    {
      name: 'an unsupported Content-Encoding',
      path: '/orders',
      headerLines: ['Content-Type: application/json', 'Content-Encoding: compress'],
      status: 415,
    },
    {
      name: 'a charset JSON cannot be in',
      path: '/orders',
      headerLines: ['Content-Type: application/json; charset=klingon'],
      status: 415,
    },
    {
      name: 'a malformed percent-encoding in the URL',
      path: '/orders/%E0%A4%A/lines',
      headerLines: ['Content-Type: application/json'],
      status: 400,
    },
  ];
  for (const { name, path, headerLines, status } of cases) {
    it(`answers ${String(status)} to ${name} with a ${String(BODY_BYTES / 1024 / 1024)} MB body, and closes only after reading it`, async () => {
      const answer = await send(path, headerLines);
      assert.equal(answer.status, status, answer.body);
      assert.equal((JSON.parse(answer.body) as { statusCode: number }).statusCode, status);
      assert.deepEqual(answer.headers.connection, ['close']);
    });
  }

  it('takes a command without a body, with or without a JSON Content-Type, and refuses a body that is not an object', async () => {
    const unknown = '/orders/00000000-0000-4000-8000-000000000000/deliver'; // a command without body fields
    const answers = await Promise.all([
      rawHttpRequest(commandApi.url, { method: 'POST', path: unknown }),
      rawHttpRequest(commandApi.url, {
        method: 'POST',
        path: unknown,
        headerLines: ['Content-Type: application/json'],
      }),
      rawHttpRequest(commandApi.url, { method: 'POST', path: unknown, body: '' }),
      rawHttpRequest(commandApi.url, {
        method: 'POST',
        path: unknown,
        headerLines: ['Content-Type: application/json'],
        body: '',
      }),
    ]);
    // Read as a command on an order that does not exist: past the body, never a 400 or 415 for its absence.
    for (const answer of answers) assert.equal(answer.status, 404, answer.body);
    const notAnObject = await rawHttpRequest(commandApi.url, {
      method: 'POST',
      path: unknown,
      headerLines: ['Content-Type: application/json'],
      body: '[1]',
    });
    assert.equal(notAnObject.status, 400, notAnObject.body);
    assert.match(notAnObject.body, /the body must be a JSON object/);
  });

  it('takes a command without a body whatever its Content-Type says, and answers every error with its reason phrase', async () => {
    const unknown = '/orders/00000000-0000-4000-8000-000000000000/deliver';
    for (const contentType of ['Content-Type:', 'Content-Type: json', 'Content-Type: application/json, text/plain']) {
      const answer = await rawHttpRequest(commandApi.url, {
        method: 'POST',
        path: unknown,
        headerLines: [contentType],
      });
      assert.equal(answer.status, 404, `${contentType}: ${answer.body}`);
    }
    // An empty body that is JSON by its type is still read, so its content coding is still checked.
    for (const [encoding, status] of [
      ['gzip', 400],
      ['x-unknown', 415],
    ] as const) {
      const answer = await rawHttpRequest(commandApi.url, {
        method: 'POST',
        path: unknown,
        headerLines: ['Content-Type: application/json', `Content-Encoding: ${encoding}`],
        body: '',
      });
      assert.equal(answer.status, status, `${encoding}: ${answer.body}`);
    }
    // Node's parser takes QUERY, which no route has; without a Content-Type Fastify refuses it before
    // routing (RFC 10008 requires one). A client's mistake: a 4xx in this API's error shape, not Fastify's.
    const query = await rawHttpRequest(commandApi.url, { method: 'QUERY', path: '/orders' });
    assert.equal(query.status, 400, query.body);
    const error = JSON.parse(query.body) as { statusCode: number; error: string; message: string };
    assert.deepEqual([error.statusCode, error.error, typeof error.message], [400, 'Bad Request', 'string']);
  });

  it('reads a JSON body in UTF-8 only, and refuses one declared in another charset before its fields', async () => {
    const order = JSON.stringify({
      customerId: 'customer-charset',
      currency: 'EUR',
      lines: [{ sku: 'sku-1', quantity: 1, unitPriceMinor: 100 }],
    });
    const place = (contentType: string, body: string | Buffer) =>
      rawHttpRequest(commandApi.url, { method: 'POST', path: '/orders', headerLines: [contentType], body });
    for (const charset of ['utf-8', 'UTF-8', '"utf-8"', '', '""']) {
      const answer = await place(`Content-Type: application/json; charset=${charset}`, order);
      assert.equal(answer.status, 201, `${charset}: ${answer.body}`);
    }
    // The same UTF-8 bytes declared UTF-16 (body-parser would decode them as UTF-16 and blame the fields),
    // and a body really in UTF-16: JSON between systems is UTF-8 (RFC 8259), so a 415 naming the charset.
    for (const [charset, body] of [
      ['utf-16', order],
      ['utf-16le', Buffer.from(order, 'utf16le')],
      ['UTF-32', order],
      ['utf8', order], // not a charset's registered name (body-parser refused it on Express too)
    ] as const) {
      const answer = await place(`Content-Type: application/json; charset=${charset}`, body);
      assert.equal(answer.status, 415, `${charset}: ${answer.body}`);
      const error = JSON.parse(answer.body) as { error: string; message: string; fields?: unknown };
      assert.equal(error.error, 'Unsupported Media Type');
      assert.match(error.message, new RegExp(`unsupported charset "${charset.toUpperCase()}"`));
      assert.equal(error.fields, undefined);
    }
    // No body to decode: a command without fields runs (here: on an order that does not exist).
    const empty = await rawHttpRequest(commandApi.url, {
      method: 'POST',
      path: '/orders/00000000-0000-4000-8000-000000000000/deliver',
      headerLines: ['Content-Type: application/json; charset=utf-16'],
      body: '',
    });
    assert.equal(empty.status, 404, empty.body);
  });

  it("names the charset of Swagger UI's page and scripts", async () => {
    for (const [path, type] of [
      ['/docs', 'text/html'],
      ['/docs/swagger-ui-init.js', 'application/javascript'],
      ['/docs/swagger-ui-bundle.js', 'application/javascript'],
      ['/docs/swagger-ui.css', 'text/css'],
    ] as const) {
      const answer = await rawHttpRequest(commandApi.url, { method: 'GET', path });
      assert.equal(answer.status, 200, path);
      assert.deepEqual(answer.headers['content-type'], [`${type}; charset=utf-8`], path);
    }
  });

  it('routes paths whatever their case, as Express did', async () => {
    const health = await rawHttpRequest(commandApi.url, { method: 'GET', path: '/HEALTH/Live' });
    assert.equal(health.status, 200, health.body);
    const upper = await rawHttpRequest(commandApi.url, {
      method: 'POST',
      path: '/Orders/00000000-0000-4000-8000-00000000000A/Deliver',
    });
    assert.equal(upper.status, 404, upper.body);
    assert.match(upper.body, /ORDER_NOT_FOUND/);
  });

  it('answers a request target that is not a path as not found, with the headers of every answer, in both APIs', async () => {
    // With the query API's routes, Fastify's router once answered `GET *orders` outside every hook (no
    // X-Correlation-Id, Node's own Keep-Alive); with the command API's it did not.
    const queryApi = new AppProcess('query-api', env.config);
    try {
      await queryApi.ready;
      for (const app of [commandApi, queryApi]) {
        for (const path of ['*orders', '*', 'ftp://localhost/orders', 'HTTP://localhost/Nowhere']) {
          const answer = await rawHttpRequest(app.url, { method: 'GET', path });
          assert.equal(answer.status, 404, `${path}: ${answer.body}`);
          assert.equal((JSON.parse(answer.body) as { error: string }).error, 'Not Found');
          assert.equal(answer.headers['x-correlation-id']?.length, 1, path);
          assert.deepEqual(answer.headers['keep-alive'], ['timeout=5'], path);
        }
      }
    } finally {
      await queryApi.stop('SIGTERM');
    }
  });

  it('keeps a connection open after refusing a body it read in full, and answers a bad URL with every header', async () => {
    const connection = await RawHttpConnection.open(commandApi.url);
    try {
      const json = ['Content-Type: application/json'];
      const refusals = [
        { status: 400, answer: await connection.request('POST', '/orders', { headerLines: json, body: '{"a":' }) },
        { status: 400, answer: await connection.request('POST', '/orders', { headerLines: json, body: '[1]' }) },
        {
          status: 415,
          answer: await connection.request('POST', '/orders', {
            headerLines: ['Content-Type: application/json; charset=klingon'],
            body: '{}',
          }),
        },
        {
          status: 415,
          answer: await connection.request('POST', '/orders', { headerLines: ['Content-Type: text/plain'], body: 'x' }),
        },
        { status: 400, answer: await connection.request('GET', '/orders/%zz') },
      ];
      for (const { status, answer } of refusals) {
        assert.equal(answer.status, status, answer.body);
        assert.notDeepEqual(answer.headers.connection, ['close'], `no Connection: close after a ${String(status)}`);
        assert.deepEqual(answer.headers['keep-alive'], ['timeout=5']);
        assert.equal(answer.headers['x-correlation-id']?.length, 1, `a correlation id on the ${String(status)}`);
        assert.equal((JSON.parse(answer.body) as { error?: string }).error !== undefined, true, answer.body);
      }
      const after = await connection.request('GET', '/health/live');
      assert.equal(after.status, 200);
    } finally {
      connection.close();
    }
  });

  it('answers a GET with an ETag, and 304 without a body to an If-None-Match that names it', async () => {
    const first = await rawHttpRequest(commandApi.url, { method: 'GET', path: '/docs/openapi.json' });
    assert.equal(first.status, 200);
    const etag = first.headers.etag?.[0];
    assert.ok(etag, 'an ETag on a successful GET');
    const again = await rawHttpRequest(commandApi.url, {
      method: 'GET',
      path: '/docs/openapi.json',
      headerLines: [`If-None-Match: "other", ${etag}`],
    });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    // Nothing that describes a body it does not have (RFC 9110, 8.6 and 15.4.5), as Express answered.
    assert.equal(again.headers['content-length'], undefined);
    assert.equal(again.headers['content-type'], undefined);
    assert.deepEqual(again.headers.etag, [etag]);
    const changed = await rawHttpRequest(commandApi.url, {
      method: 'GET',
      path: '/docs/openapi.json',
      headerLines: ['If-None-Match: "other"'],
    });
    assert.equal(changed.status, 200);
  });

  it('still serves requests afterwards', async () => {
    const answer = await rawHttpRequest(commandApi.url, { method: 'GET', path: '/health/live' });
    assert.equal(answer.status, 200);
  });

  it('keeps an idle connection open past the time it advertises, so a client reusing it is answered', async () => {
    const connection = await RawHttpConnection.open(commandApi.url);
    try {
      const first = await connection.request('GET', '/health/live');
      assert.equal(first.status, 200);
      assert.deepEqual(first.headers['keep-alive'], ['timeout=5']);
      // The idle time is what is tested: past the advertised 5 s and Node's default timeout (also 5 s),
      // as a client whose event loop stalled would reuse the connection.
      await sleep(7_000);
      const second = await connection.request('GET', '/health/live');
      assert.equal(second.status, 200);
    } finally {
      connection.close();
    }
  });
});
