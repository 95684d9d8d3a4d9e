import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { OrderCommandType } from '@app/orders-domain';
import {
  AcknowledgedCommands,
  COMMAND_CATALOGUE,
  COMMAND_TYPES,
  assertGuarantees,
  commandPath,
  contractViolation,
  createTestEnvironment,
  expectedCommandAnswer,
  inParallel,
  placeOrderBody,
  rawHttpRequest,
  reportFigure,
  startSystem,
  TEST_ADMIN_TOKEN,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

/** SQL, shell, template, path, header and unicode payloads; each goes into every field and parameter. */
const INJECTIONS: readonly string[] = [
  "'; DROP TABLE events; --",
  "' OR '1'='1",
  '" OR ""="',
  '1; DELETE FROM order_view WHERE true; --',
  "Robert'); DROP TABLE idempotency_keys;--",
  "' UNION SELECT key, fingerprint FROM idempotency_keys --",
  '$1',
  '$1::text); DROP SCHEMA public CASCADE; --',
  "\\'; SELECT pg_sleep(10); --",
  "E'\\x00'",
  '%00',
  'a\u0000b',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fadmin',
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}#{7*7}',
  '`rm -rf /`; $(reboot)',
  'a\r\nX-Injected: yes',
  'line\nbreak',
  'ünïcødé ☃ 𝄞 مرحبا 中文 ß',
  '\u202Ereversed\u200B\uFEFFzero-width',
  '😀😀😀',
  '\\u0000\\ud800',
  'null',
  '__proto__',
  'x:y.z-1_SAFE',
  'A'.repeat(600),
];

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: Record<string, unknown>;
  readonly headers: Readonly<Record<string, readonly string[]>>;
}

const enc = encodeURIComponent;

/**
 * Scenario 12: injection strings in every body field, path parameter, query parameter and header of
 * every command and query endpoint (admin included, with the token). Each is stored verbatim (read
 * back through the query API) or rejected with a 4xx; never a 5xx; the schema is unchanged. Every
 * command's answer is one the contract allows, as a reference reading of it (command-contract.ts)
 * decides: a string quantity, a currency that is not ISO 4217 or an unknown key is a 400 naming the
 * field, whatever the string; a string the contract leaves open may be stored or refused. Requests
 * are written byte for byte (rawHttpRequest) so that CR/LF, non-ASCII headers and unnormalised paths
 * reach the server as sent.
 */
describe('fault: injection strings in every field and parameter', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let commandUrl: string;
  let queryUrl: string;

  before(async () => {
    env = await createTestEnvironment('injection', { partitions: 2 });
    system = await startSystem(env.config);
    await system.commandApi.listen(0, '127.0.0.1');
    await system.queryApi.listen(0, '127.0.0.1');
    commandUrl = await system.commandApi.getUrl();
    queryUrl = await system.queryApi.getUrl();
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  /** Of both databases when the read store is separate: what reaches either must change neither. */
  const schemaDigest = async (): Promise<string> => {
    const digests = await Promise.all([...new Set([env.db, env.readDb])].map(schemaDigestOf));
    return digests.join('\n');
  };
  const schemaDigestOf = async (db: typeof env.db): Promise<string> => {
    const { rows } = await db.query<{ columns: string; relations: string; routines: string }>(
      `SELECT (SELECT md5(string_agg(concat_ws(':', table_schema, table_name, column_name, data_type, is_nullable, column_default), ',' ORDER BY table_schema, table_name, ordinal_position))
                 FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')) AS columns,
              (SELECT md5(string_agg(concat_ws(':', n.nspname, c.relname, c.relkind), ',' ORDER BY n.nspname, c.relname))
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%') AS relations,
              (SELECT md5(coalesce(string_agg(concat_ws(':', n.nspname, p.proname), ',' ORDER BY n.nspname, p.proname), '') || (SELECT count(*) FROM pg_trigger)::text)
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) AS routines`,
    );
    return JSON.stringify(rows[0]);
  };

  it('stores each string verbatim or rejects it with a 4xx, never a 5xx, and leaves the schema as it was', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const schemaBefore = await schemaDigest();
    const statuses = new Map<number, number>();
    let verbatim = 0;
    let rejected = 0;
    const contract = { held: 0, knownInvalid: 0 };
    const limits = { bodyLimitBytes: env.config.http.bodyLimitBytes };

    /** Sends one request byte for byte: header values as UTF-8 bytes, exactly what a hostile client can put on the wire. */
    const send = async (
      base: string,
      method: string,
      path: string,
      { body, headers = {} }: { body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<Answer> => {
      // As the server reads them: the UTF-8 bytes of each value, one byte a character.
      const sent = Object.fromEntries(
        Object.entries({ ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers }).map(
          ([name, value]) => [name, Buffer.from(value, 'utf8').toString('latin1')],
        ),
      );
      const headerLines = Object.entries(sent).map(([name, value]) => `${name}: ${value}`);
      const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const response = await rawHttpRequest(base, {
        method,
        path,
        headerLines,
        ...(text === undefined ? {} : { body: text }),
      });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const what = `${method} ${path} ${JSON.stringify(body ?? '')} ${JSON.stringify(headers)}`;
      assert.ok(response.status >= 200 && response.status < 500, `${what}: ${response.status} ${response.body}`);
      if (base === commandUrl) {
        const expected = expectedCommandAnswer(
          { method, path, headers: sent, ...(text === undefined ? {} : { body: text }) },
          limits,
        );
        assert.equal(
          contractViolation(expected, response.status, response.body),
          undefined,
          `${what}: ${response.status} ${response.body}`,
        );
        contract.held++;
        if (expected.invalid) contract.knownInvalid++;
      }
      assert.equal(response.headers['x-injected'], undefined, `${what}: no header injected into the response`);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(response.body) as Record<string, unknown>;
      } catch {
        // a parser-level 400 has no JSON body
      }
      if (response.status >= 400) rejected++;
      return { status: response.status, text: response.body, json, headers: response.headers };
    };
    const command = (method: string, path: string, options?: { body?: unknown; headers?: Record<string, string> }) =>
      send(commandUrl, method, path, options);
    const query = (path: string, headers: Record<string, string> = {}) => send(queryUrl, 'GET', path, { headers });
    const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

    /** The order as the query API shows it at `version`. */
    const view = async (orderId: string, version: number): Promise<Record<string, unknown>> => {
      const answer = await query(`/orders/${orderId}?minVersion=${version}`);
      assert.equal(answer.status, 200, answer.text);
      return answer.json;
    };
    const place = async (
      overrides: Record<string, unknown> = {},
      headers: Record<string, string> = {},
    ): Promise<Answer> => {
      const answer = await command('POST', '/orders', {
        body: placeOrderBody({ customerId: 'inj-customer', ...overrides }),
        headers,
      });
      // A replay (the same Idempotency-Key) answers the first placement again: one order, one acknowledgement.
      if (answer.status === 201 && answer.headers['idempotent-replayed']?.[0] !== 'true')
        acknowledged.record(answer.json.orderId as string, 1, 'OrderPlaced');
      return answer;
    };
    const placed = async (): Promise<string> => {
      const answer = await place();
      assert.equal(answer.status, 201, answer.text);
      return answer.json.orderId as string;
    };
    /** A command that must either succeed (and then the value reads back verbatim) or be rejected. */
    const tryCommand = async (
      orderId: string,
      type: OrderCommandType,
      body: unknown,
      version: number,
      readBack: (order: Record<string, unknown>) => void,
    ): Promise<number> => {
      const { method, event } = COMMAND_CATALOGUE[type];
      const answer = await command(method, commandPath(type, { id: orderId }), { body });
      if (answer.status !== 200) return version;
      acknowledged.record(orderId, version + 1, event);
      readBack(await view(orderId, version + 1));
      verbatim++;
      return version + 1;
    };

    await inParallel(INJECTIONS.length, 3, async (index) => {
      const s = INJECTIONS[index] ?? '';
      // In a header, CR LF ends the line: the value is what came before it, the rest a header of its own.
      const inHeader = s.split('\r\n')[0] ?? '';

      // POST /orders: every field, and the string as an unknown key.
      for (const overrides of [
        { customerId: s },
        { currency: s },
        { lines: [{ sku: s, quantity: 1, unitPriceMinor: 100 }] },
        { lines: [{ sku: 'OK-1', quantity: s, unitPriceMinor: 100 }] },
        { lines: [{ sku: 'OK-1', quantity: 1, unitPriceMinor: s }] },
        { lines: s },
        { [s]: 1 },
        { lines: [{ sku: 'OK-1', quantity: 1, unitPriceMinor: 100, [s]: s }] },
      ]) {
        const answer = await place(overrides);
        if (answer.status === 201) {
          const order = await view(answer.json.orderId as string, 1);
          assert.equal(order.customerId, overrides.customerId ?? 'inj-customer');
          if ('lines' in overrides) assert.deepEqual(order.lines, overrides.lines);
          verbatim++;
        }
      }
      // Headers of a command: stored verbatim (the idempotency key replays), ignored, or rejected.
      const keyed = await place({}, { 'Idempotency-Key': s });
      if (keyed.status === 201) {
        const replay = await place({}, { 'Idempotency-Key': s });
        assert.deepEqual(
          [replay.json.orderId, replay.headers['idempotent-replayed']],
          [keyed.json.orderId, ['true']],
          'the key was stored verbatim',
        );
        const { rows } = await env.db.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [inHeader]);
        assert.equal(rows.length, 1, `the key ${JSON.stringify(s)} is stored as sent`);
        verbatim++;
      }
      for (const name of [
        'X-Correlation-Id',
        'traceparent',
        'Content-Type',
        'Accept',
        s.replace(/[^A-Za-z-]/g, '') || 'X-Empty',
      ]) {
        const answer = await place({}, { [name]: s });
        if (name === 'X-Correlation-Id' && answer.status === 201) {
          const echoed = answer.headers['x-correlation-id']?.[0] ?? '';
          assert.ok(
            echoed === inHeader || /^[\da-f-]{36}$/.test(echoed),
            `correlation id echoed verbatim or replaced, got ${echoed}`,
          );
        }
      }

      // Order commands: every body field, the path parameters and If-Match.
      const first = await placed();
      let version = 1;
      version = await tryCommand(
        first,
        'AddOrderLine',
        { sku: s, quantity: 1, unitPriceMinor: 1 },
        version,
        (order) => {
          assert.ok(
            (order.lines as { sku: string }[]).some((line) => line.sku === s),
            'the added line reads back verbatim',
          );
        },
      );
      const removed = await command(
        COMMAND_CATALOGUE.RemoveOrderLine.method,
        commandPath('RemoveOrderLine', { id: first, sku: enc(s) }),
      );
      if (removed.status === 200) {
        version++;
        acknowledged.record(first, version, COMMAND_CATALOGUE.RemoveOrderLine.event);
        assert.ok(!((await view(first, version)) as { lines: { sku: string }[] }).lines.some((line) => line.sku === s));
      }
      for (const body of [
        { sku: 'OK-2', quantity: s, unitPriceMinor: 1 },
        { sku: 'OK-2', quantity: 1, unitPriceMinor: s },
        s,
        { [s]: s },
      ]) {
        assert.equal((await command('POST', commandPath('AddOrderLine', { id: first }), { body })).status, 400);
      }
      assert.ok(
        [400, 412].includes(
          (
            await command('POST', commandPath('AddOrderLine', { id: first }), {
              body: { sku: 'OK-3', quantity: 1, unitPriceMinor: 1 },
              headers: { 'If-Match': s },
            })
          ).status,
        ),
      );
      const beforeConfirm = version;
      version = await tryCommand(first, 'ConfirmOrder', { paymentReference: s }, version, (order) => {
        assert.equal(order.paymentReference, s);
      });
      if (version === beforeConfirm)
        version = await tryCommand(first, 'ConfirmOrder', { paymentReference: 'pay-ok' }, version, () => undefined);
      assert.equal(version, beforeConfirm + 1, 'the order is confirmed');
      await tryCommand(first, 'ShipOrder', { carrier: s, trackingNumber: 'T-1' }, version, (order) => {
        assert.equal(order.carrier, s);
      });

      const second = await placed();
      const secondVersion = await tryCommand(
        second,
        'ConfirmOrder',
        { paymentReference: 'pay-ok' },
        1,
        () => undefined,
      );
      await tryCommand(second, 'ShipOrder', { carrier: 'DHL', trackingNumber: s }, secondVersion, (order) => {
        assert.equal(order.trackingNumber, s);
      });

      const third = await placed();
      await tryCommand(third, 'CancelOrder', { reason: s }, 1, (order) => {
        assert.equal(order.cancelReason, s);
      });

      // The string as an order id and a sku in every command path.
      // Every command's route from the catalogue, so a new command is covered without an edit here.
      for (const type of COMMAND_TYPES.filter((command) => COMMAND_CATALOGUE[command].pattern.includes(':id'))) {
        const { method } = COMMAND_CATALOGUE[type];
        const path = commandPath(type, { id: enc(s), sku: enc(s) });
        const body = method === 'POST' ? { body: { reason: 'x' } } : {};
        assert.ok((await command(method, path, body)).status >= 400, `${method} ${path}`);
      }

      // Queries: path and query parameters; a customer id that was stored reads back verbatim.
      await query(`/orders/${enc(s)}`);
      await query(`/orders/${first}?minVersion=${enc(s)}`);
      await query(`/orders/${first}?${enc(s)}=1`);
      const listed = await query(`/orders?customerId=${enc(s)}`);
      if (listed.status === 200) {
        for (const item of listed.json.items as { customerId: string }[]) assert.equal(item.customerId, s);
      }
      for (const parameter of ['status', 'limit', 'cursor']) await query(`/orders?${parameter}=${enc(s)}`);
      const customer = await query(`/customers/${enc(s)}`);
      if (customer.status === 200) assert.equal(customer.json.customerId, s);
      for (const parameters of [
        `granularity=${enc(s)}`,
        `granularity=5m&from=${enc(s)}`,
        `granularity=1h&to=${enc(s)}`,
        `granularity=5m&${enc(s)}=1`,
      ]) {
        await query(`/stats/sales?${parameters}`);
      }
      // Admin endpoints, with the token: every parameter.
      await query(`/admin/parked-events?projection=${enc(s)}&orderId=${enc(s)}`, admin);
      await query(`/admin/parked-events?limit=${enc(s)}`, admin);
      await send(queryUrl, 'POST', `/admin/parked-events/orders/${enc(s)}/retry`, { headers: admin });
      await send(queryUrl, 'POST', `/admin/parked-events/orders/${first}/retry?projection=${enc(s)}`, {
        headers: admin,
      });
      await send(queryUrl, 'DELETE', `/admin/parked-events/${enc(s)}`, { headers: admin });
      await query(`/admin/projections/${enc(s)}/rebuilds/${enc(s)}`, admin);
      await send(queryUrl, 'POST', `/admin/projections/${enc(s)}/rebuild`, { headers: admin });
      await send(queryUrl, 'POST', `/admin/projections/order-view/rebuilds/${enc(s)}/cancel`, { headers: admin });
    });

    // Paths no client library would send: traversal, NUL, broken escapes, doubled slashes.
    for (const path of [
      '/orders/../admin/projections',
      '/orders/..%2f..%2fadmin%2fprojections',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/orders/%00',
      '/orders/%',
      '/orders/%E0%A4%A',
      '/orders/%ED%A0%80',
      '//orders',
      '/orders?customerId=%00',
      '/orders?customerId=%',
      '/orders/00000000-0000-0000-0000-000000000000%00/confirm',
      `/orders/${'a/'.repeat(500)}`,
    ]) {
      await send(commandUrl, 'POST', path, { body: { paymentReference: 'x' } });
      await send(queryUrl, 'GET', path, { headers: admin });
    }

    assert.equal(await schemaDigest(), schemaBefore, 'the database schema is unchanged');
    assert.ok(
      contract.knownInvalid > INJECTIONS.length * 5,
      `the strings make known-invalid commands (${contract.knownInvalid})`,
    );
    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(figures.lost, 0);
    const fiveHundreds = [...statuses].filter(([status]) => status >= 500).reduce((sum, [, count]) => sum + count, 0);
    reportFigure('injection', {
      strings: INJECTIONS.length,
      requests: [...statuses.values()].reduce((sum, count) => sum + count, 0),
      storedVerbatim: verbatim,
      rejected: `${rejected} (4xx)`,
      serverErrors: fiveHundreds,
      commandAnswersHeldToContract: contract.held,
      knownInvalid: contract.knownInvalid,
      schemaUnchanged: true,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
