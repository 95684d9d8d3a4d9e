import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import request from 'supertest';

import { IdempotencyKeyPurger } from '@app/event-store';
import { createTestEnvironment, placeOrderBody, startTestApp, type TestApp, type TestEnvironment } from '@app/testing';

import { CommandApiModule, commandControllers } from './command-api.module.js';
import { setupOpenApi } from './openapi.js';

describe('command API on real Postgres', () => {
  let env: TestEnvironment;
  let app: TestApp;

  before(async () => {
    env = await createTestEnvironment('command_api', { relayEnabled: false });
    app = await startTestApp(CommandApiModule, env.config, setupOpenApi);
  });

  after(async () => {
    await app.close();
    await env.dispose();
  });

  const http = () => request(app.getHttpServer());
  const eventCount = async (orderId: string): Promise<number> =>
    (
      (await env.db.query('SELECT count(*)::int AS n FROM events WHERE order_id = $1', [orderId])).rows[0] as {
        n: number;
      }
    ).n;

  async function placeOrder(body = placeOrderBody()): Promise<string> {
    const response = await http().post('/orders').send(body).expect(201);
    return (response.body as { orderId: string }).orderId;
  }

  describe('the order lifecycle over HTTP', () => {
    it('runs every command with its status code, new version and ETag', async () => {
      const orderId = await placeOrder();
      const steps: [string, string, object | undefined, number, string][] = [
        ['post', `/orders/${orderId}/lines`, { sku: 'PEN-1', quantity: 3, unitPriceMinor: 99 }, 2, 'PLACED'],
        ['delete', `/orders/${orderId}/lines/PEN-1`, undefined, 3, 'PLACED'],
        ['post', `/orders/${orderId}/confirm`, { paymentReference: 'pay-1' }, 4, 'CONFIRMED'],
        ['post', `/orders/${orderId}/ship`, { carrier: 'DHL Express', trackingNumber: 'T-1' }, 5, 'SHIPPED'],
        ['post', `/orders/${orderId}/deliver`, undefined, 6, 'DELIVERED'],
      ];
      for (const [method, path, body, version, status] of steps) {
        const call = method === 'post' ? http().post(path) : http().delete(path);
        const response = await (body ? call.send(body) : call).expect(200);
        assert.deepEqual(response.body, { orderId, version, status }, `${method} ${path}`);
        assert.equal(response.headers.etag, `"${version}"`);
      }
      const stored = await env.db.query('SELECT type FROM events WHERE order_id = $1 ORDER BY version', [orderId]);
      assert.deepEqual(
        stored.rows.map((row: { type: string }) => row.type),
        ['OrderPlaced', 'OrderLineAdded', 'OrderLineRemoved', 'OrderConfirmed', 'OrderShipped', 'OrderDelivered'],
      );
    });

    it('answers 409 with the rule code, 404 for an unknown order or line, and changes nothing', async () => {
      const orderId = await placeOrder();
      const shipped = await http()
        .post(`/orders/${orderId}/ship`)
        .send({ carrier: 'DHL', trackingNumber: 'T-1' })
        .expect(409);
      assert.equal((shipped.body as { code: string }).code, 'ORDER_NOT_CONFIRMED');
      await http().delete(`/orders/${orderId}/lines/NOT-THERE`).expect(404);
      await http().post('/orders/6f1c1c2e-8a0b-4a6e-9a49-0d0f2b7f0e11/cancel').send({ reason: 'x' }).expect(404);
      assert.equal(await eventCount(orderId), 1);
    });

    it('cancels a confirmed order but not a shipped one', async () => {
      const orderId = await placeOrder();
      await http().post(`/orders/${orderId}/confirm`).send({ paymentReference: 'p' }).expect(200);
      await http().post(`/orders/${orderId}/cancel`).send({ reason: 'out of stock' }).expect(200);
      const again = await http().post(`/orders/${orderId}/cancel`).send({ reason: 'twice' }).expect(409);
      assert.equal((again.body as { code: string }).code, 'ORDER_NOT_CANCELLABLE');
    });

    it('serves the OpenAPI document with every command route and the outbox backlog', async () => {
      const document = (await http().get('/docs/openapi.json').expect(200)).body as {
        paths: Record<string, Record<string, unknown>>;
      };
      const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method} ${path}`),
      );
      const routes = commandRoutes();
      assert.equal(routes.length, Object.keys(commandControllers).length, 'one route per command');
      assert.deepEqual(documented.sort(), [...routes, 'get /admin/outbox'].sort());
      await http().get('/docs').expect(200);
    });

    it("exports the group commit's commands per shared transaction on /metrics", async () => {
      const metrics = (await http().get('/metrics').expect(200)).text;
      assert.match(metrics, /^# TYPE event_store_shared_transaction_commands histogram$/m);
    });
  });

  describe('optimistic concurrency', () => {
    it('gives 50 concurrent commands pinned to one version one success and 49 answers of 412', async () => {
      const orderId = await placeOrder();
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          http()
            .post(`/orders/${orderId}/lines`)
            .set('If-Match', '"1"')
            .send({ sku: `SKU-${index}`, quantity: 1, unitPriceMinor: 10 }),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      assert.deepEqual(statuses, [200, ...Array<number>(49).fill(412)]);
      assert.equal(await eventCount(orderId), 2);
    });

    it('lets concurrent unpinned commands all succeed with contiguous versions', async () => {
      const orderId = await placeOrder();
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          http()
            .post(`/orders/${orderId}/lines`)
            .send({ sku: `SKU-${index}`, quantity: 1, unitPriceMinor: 10 }),
        ),
      );
      assert.ok(responses.every((response) => response.status === 200));
      const versions = responses
        .map((response) => (response.body as { version: number }).version)
        .sort((a, b) => a - b);
      assert.deepEqual(
        versions,
        Array.from({ length: 30 }, (_, index) => index + 2),
      );
      const stored = await env.db.query('SELECT version FROM events WHERE order_id = $1 ORDER BY version', [orderId]);
      assert.deepEqual(
        stored.rows.map((row: { version: number }) => row.version),
        Array.from({ length: 31 }, (_, index) => index + 1),
      );
    });

    it('rejects a malformed If-Match with 400', async () => {
      const orderId = await placeOrder();
      await http().post(`/orders/${orderId}/deliver`).set('If-Match', 'W/"1"').expect(400);
    });
  });

  describe('idempotency keys', () => {
    it('gives 20 concurrent requests with one key one effect and identical responses', async () => {
      const key = `key-${env.id}-concurrent`;
      const body = placeOrderBody({ customerId: 'idempotent-customer' });
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => http().post('/orders').set('Idempotency-Key', key).send(body)),
      );
      const first = responses[0]!;
      assert.equal(first.status, 201);
      for (const response of responses) {
        assert.equal(response.status, 201);
        assert.equal(response.text, first.text);
        assert.equal(response.headers.location, first.headers.location);
        assert.equal(response.headers.etag, first.headers.etag);
      }
      const { rows } = await env.db.query(
        `SELECT count(*)::int AS n FROM events WHERE data->>'customerId' = 'idempotent-customer'`,
      );
      assert.equal((rows[0] as { n: number }).n, 1);
      assert.equal(responses.filter((response) => response.headers['idempotent-replayed'] === 'true').length, 19);
    });

    it('answers 422 for the same key with another body or on another endpoint, and changes nothing', async () => {
      const key = `key-${env.id}-mismatch`;
      const orderId = await placeOrder();
      await http()
        .post(`/orders/${orderId}/lines`)
        .set('Idempotency-Key', key)
        .send({ sku: 'A-1', quantity: 1, unitPriceMinor: 1 })
        .expect(200);
      const other = await http()
        .post(`/orders/${orderId}/lines`)
        .set('Idempotency-Key', key)
        .send({ sku: 'B-1', quantity: 1, unitPriceMinor: 1 })
        .expect(422);
      assert.equal((other.body as { code: string }).code, 'IDEMPOTENCY_KEY_REUSED');
      await http()
        .post(`/orders/${orderId}/confirm`)
        .set('Idempotency-Key', key)
        .send({ paymentReference: 'p' })
        .expect(422);
      assert.equal(await eventCount(orderId), 2);
    });

    it('replays a retry after later commands, without deciding again', async () => {
      const key = `key-${env.id}-retry`;
      const orderId = await placeOrder();
      const first = await http()
        .post(`/orders/${orderId}/confirm`)
        .set('Idempotency-Key', key)
        .send({ paymentReference: 'p' })
        .expect(200);
      await http().post(`/orders/${orderId}/ship`).send({ carrier: 'UPS', trackingNumber: 'T' }).expect(200);
      const retry = await http()
        .post(`/orders/${orderId}/confirm`)
        .set('Idempotency-Key', key)
        .send({ paymentReference: 'p' })
        .expect(200);
      assert.equal(retry.text, first.text);
      assert.equal(await eventCount(orderId), 3);
    });

    it('does not record a rejected command, so its retry decides again', async () => {
      const key = `key-${env.id}-rejected`;
      const orderId = await placeOrder();
      await http()
        .post(`/orders/${orderId}/ship`)
        .set('Idempotency-Key', key)
        .send({ carrier: 'UPS', trackingNumber: 'T' })
        .expect(409);
      await http().post(`/orders/${orderId}/confirm`).send({ paymentReference: 'p' }).expect(200);
      await http()
        .post(`/orders/${orderId}/ship`)
        .set('Idempotency-Key', key)
        .send({ carrier: 'UPS', trackingNumber: 'T' })
        .expect(200);
    });

    it('forgets expired keys: a request decides anew, and the purge deletes them', async () => {
      const key = `key-${env.id}-expired`;
      const body = placeOrderBody({ customerId: 'expiring-customer' });
      const first = await http().post('/orders').set('Idempotency-Key', key).send(body).expect(201);
      await env.db.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
      const second = await http().post('/orders').set('Idempotency-Key', key).send(body).expect(201);
      assert.notEqual((second.body as { orderId: string }).orderId, (first.body as { orderId: string }).orderId);

      await env.db.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
      assert.equal(await app.get(IdempotencyKeyPurger).purge(), 1);
      const { rows } = await env.db.query('SELECT count(*)::int AS n FROM idempotency_keys WHERE key = $1', [key]);
      assert.equal((rows[0] as { n: number }).n, 0);
    });

    it('rejects a malformed key with 400', async () => {
      await http().post('/orders').set('Idempotency-Key', 'has spaces').send(placeOrderBody()).expect(400);
    });
  });

  describe('bad input', () => {
    it('answers 415 for a body that is not JSON, 413 for one too large, 400 for broken JSON', async () => {
      await http().post('/orders').set('Content-Type', 'text/plain').send('hello').expect(415);
      await http()
        .post('/orders')
        .set('Content-Type', 'application/json')
        .send(`{"customerId":"${'x'.repeat(70_000)}"}`)
        .expect(413);
      await http().post('/orders').set('Content-Type', 'application/json').send('{"customerId":').expect(400);
      await http()
        .post('/orders')
        .set('Content-Type', 'application/json')
        .send('{"__proto__":{"polluted":true}}')
        .expect(400);
      await http().post('/orders').set('Content-Type', 'application/json').send('[]').expect(400);
    });

    it('refuses text Postgres cannot store (lone surrogates, NUL) and malformed ids with 400, changing nothing', async () => {
      const orderId = await placeOrder();
      for (const body of ['{"reason":"\\ud800"}', '{"reason":"a\\u0000b"}']) {
        await http().post(`/orders/${orderId}/cancel`).set('Content-Type', 'application/json').send(body).expect(400);
      }
      const malformed = await http().post('/orders/not-a-uuid/deliver').expect(400);
      assert.deepEqual((malformed.body as { fields: unknown }).fields, [
        { field: 'id', errors: ['id must be a UUID'] },
      ]);
      await http().delete(`/orders/${orderId}/lines/%00`).expect(400);
      assert.equal(await eventCount(orderId), 1);
    });

    it('names every bad field, nested ones by path', async () => {
      const response = await http()
        .post('/orders')
        .send({
          customerId: '',
          currency: 'EURO',
          lines: [{ sku: 'ok', quantity: '2', unitPriceMinor: -1 }, 'not-a-line'],
          extra: 1,
        })
        .expect(400);
      const fields = (response.body as { fields: { field: string }[] }).fields.map((field) => field.field).sort();
      assert.deepEqual(fields, [
        'currency',
        'customerId',
        'extra',
        'lines.0.quantity',
        'lines.0.unitPriceMinor',
        'lines.1',
      ]);
    });
  });
});

/** Every route the command controllers register, as OpenAPI names it: `post /orders/{id}/cancel`. */
function commandRoutes(): string[] {
  return Object.values(commandControllers).flatMap((controller) => {
    const prefix = Reflect.getMetadata(PATH_METADATA, controller) as string;
    return Object.getOwnPropertyNames(controller.prototype).flatMap((name) => {
      const handler: unknown = Reflect.get(controller.prototype, name);
      if (name === 'constructor' || typeof handler !== 'function') return [];
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      if (path === undefined) return [];
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod].toLowerCase();
      const segments = [prefix, path].flatMap((part) => part.split('/')).filter(Boolean);
      return [`${method} /${segments.map((segment) => segment.replace(/^:(.+)$/, '{$1}')).join('/')}`];
    });
  });
}
