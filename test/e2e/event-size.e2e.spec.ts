import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { CommandApiModule } from '@app/command-api';
import { EVENT_DATA_LIMIT_BYTES } from '@app/event-store';
import { MAX_RECORD_BYTES, recordSize } from '@app/messaging';
import { createTestEnvironment, readTopic, startTestApp, type TestApp, type TestEnvironment } from '@app/testing';

/**
 * README: no record over 1 MB is ever produced; a larger event is refused at append (413). The
 * refusal itself is tested at the event store (event-store.int.spec) and its 413 EVENT_TOO_LARGE
 * answer at the filter (command-error.filter.unit.spec); here, over HTTP with the body limit at its
 * largest, the biggest events the API accepts are measured, and what goes past its field limits is a
 * 400, never a 413 or a 5xx.
 */
describe('event size: the largest valid commands stay far below one Kafka record', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  const http = () => request(commandApi.getHttpServer());
  const sku = (index: number) => `SKU-${String(index).padStart(3, '0')}-${'x'.repeat(56)}`; // 64 characters, the most a sku may have
  const lines = (count: number) =>
    Array.from({ length: count }, (_, index) => ({ sku: sku(index), quantity: 1_000_000, unitPriceMinor: 1 }));

  before(async () => {
    env = await createTestEnvironment('event_size');
    commandApi = await startTestApp(CommandApiModule, {
      ...env.config,
      http: { ...env.config.http, bodyLimitBytes: 10_485_760 },
    });
  });

  after(async () => {
    await commandApi.close();
    await env.dispose();
  });

  it('accepts an order of 100 lines with the longest skus and customer id, and a cancel with the longest reason; every record stays under 1 MB', async () => {
    const customerId = `c${'x'.repeat(127)}`;
    assert.equal(sku(0).length, 64);
    const placed = await http()
      .post('/orders')
      .send({ customerId, currency: 'EUR', lines: lines(100) })
      .expect(201);
    const { orderId } = placed.body as { orderId: string };
    await http()
      .post(`/orders/${orderId}/cancel`)
      .send({ reason: 'r'.repeat(500) })
      .expect(200);

    const { rows } = await env.db.query<{ type: string; bytes: number }>(
      'SELECT type, octet_length(data::text) AS bytes FROM events WHERE order_id = $1 ORDER BY version',
      [orderId],
    );
    assert.deepEqual(
      rows.map((row) => row.type),
      ['OrderPlaced', 'OrderCancelled'],
    );
    const largest = Math.max(...rows.map((row) => row.bytes));
    assert.ok(
      largest < EVENT_DATA_LIMIT_BYTES / 50,
      `the largest event is ${String(largest)} bytes, the limit ${String(EVENT_DATA_LIMIT_BYTES)}`,
    );

    const records = await readTopic(
      env.kafka,
      env.config.kafka.ordersTopic,
      (read) => read.filter((record) => record.key === orderId).length === 2,
    );
    for (const record of records)
      assert.ok(recordSize({ key: record.key, value: record.value, headers: record.headers }) < MAX_RECORD_BYTES / 50);
  });

  it('answers 400 naming the field, not 413, to a command past the field limits even when the body limit lets it in', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ customerId: 'c-1', currency: 'EUR', lines: lines(101) }, 'lines'],
      [
        { customerId: 'c-1', currency: 'EUR', lines: [{ sku: `${sku(0)}y`, quantity: 1, unitPriceMinor: 1 }] },
        'lines.0.sku',
      ],
      [{ customerId: `c${'x'.repeat(128)}`, currency: 'EUR', lines: lines(1) }, 'customerId'],
      // 100 kB: over the default 64 kB limit (413), so this 400 shows that HTTP_BODY_LIMIT_BYTES raised it.
      [{ customerId: 'x'.repeat(100_000), currency: 'EUR', lines: lines(1) }, 'customerId'],
    ];
    for (const [body, field] of cases) {
      const refused = await http().post('/orders').send(body).expect(400);
      assert.deepEqual(
        (refused.body as { fields: { field: string }[] }).fields.map((bad) => bad.field),
        [field],
        refused.text,
      );
    }
    const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    assert.equal(rows[0]?.n, 2, "only the first test's events");
  });
});
