import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import { PipelinedSql } from '@app/platform';
import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { captureRecord } from './capture-record.js';
import { ConcurrencyConflict, EventStore, type EventRow, type NewEvent } from './event-store.js';
import { relayRecord } from './outbox-relay.js';

/** Data whose keys and values JSON and jsonb write differently: the order of keys above all. */
const awkwardData: Record<string, unknown>[] = [
  { sku: 'A', quantity: 2, customerId: 'c-1', a: 1, ab: 2, é: 3, z: { zz: [{ b: 1, a: 2 }], y: null } },
  { 10: 'ten', 9: 'nine', a: 'letter', '': 'empty', '01': 'not an index', [-1]: 'negative' },
  { big: 1e21, small: 1e-7, tenth: 0.1, negativeZero: -0, max: Number.MAX_SAFE_INTEGER, exp: 123.456e5 },
  { text: 'quote " backslash \\ tab \t newline \n é ✓ 𝄞 \u2028', nested: [[], {}, [{}], ''] },
  JSON.parse('{"__proto__": {"x": 1}, "constructor": "c", "toString": 1}') as Record<string, unknown>,
  { date: new Date('2026-12-03T10:00:00.123Z'), undefinedDropped: undefined, list: [undefined, 1] },
];

function event(data: Record<string, unknown>, metadata: NewEvent['metadata']): NewEvent {
  return {
    eventId: randomUUID().toUpperCase(), // Postgres prints uuids in lower case: so must the record
    schemaVersion: 2,
    event: { type: 'OrderPlaced', data },
    occurredAt: new Date('2026-12-03T09:30:00.456Z'),
    metadata,
  };
}

const traced = {
  correlationId: 'corr-1',
  causationId: 'cause-1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
};
const untraced = { correlationId: 'corr-2', causationId: 'cause-2' };

for (const sessions of ['TypeORM transactions', 'pipelined connections'] as const)
  describe(`change data capture records on ${sessions}`, () => {
    let env: TestEnvironment;
    let dataSource: DataSource;
    let sql: PipelinedSql | undefined;

    before(async () => {
      env = await createTestEnvironment('capture_record', { relay: 'in-process' });
      dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
      if (sessions === 'pipelined connections')
        sql = new PipelinedSql(env.config.databaseUrl, { max: 4, applicationName: 'capture-record-test' });
      // Without a replication slot to read the log, a trigger keeps a copy of every captured insert.
      await dataSource.query(`
        CREATE TABLE captured (LIKE outbox_capture, seq bigserial);
        CREATE FUNCTION keep_captured() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO captured SELECT NEW.*; RETURN NEW; END $$;
        CREATE TRIGGER keep_captured AFTER INSERT ON outbox_capture FOR EACH ROW EXECUTE FUNCTION keep_captured();`);
    });

    after(async () => {
      await sql?.close();
      await dataSource.destroy();
      await env.dispose();
    });

    it('encodes each event as the in-process relay encodes it from the stored row, byte for byte', async () => {
      const store = new EventStore(dataSource, sql);
      const orderId = randomUUID().toUpperCase();
      const events = awkwardData.map((data, index) => event(data, index % 2 ? untraced : traced));
      await store.transaction((db) => store.append(db, orderId, 0, events));

      const rows: EventRow[] = await dataSource.query(
        `SELECT position, event_id, order_id, version, type, schema_version, data, metadata, occurred_at
           FROM events WHERE order_id = $1 ORDER BY version`,
        [orderId],
      );
      assert.equal(rows.length, events.length);
      rows.forEach((row, index) => {
        const stored = events[index];
        assert.ok(stored);
        assert.deepEqual(captureRecord(orderId, index + 1, stored, stored.metadata), relayRecord(row));
      });
    });

    it('in debezium mode, writes each record to outbox_capture and deletes it in the same transaction', async () => {
      const store = new EventStore(dataSource, sql);
      store.useRelay('debezium');
      const orderId = randomUUID();
      const events = awkwardData.map((data, index) => event(data, index % 2 ? untraced : traced));
      await store.transaction((db) => store.append(db, orderId, 0, events));

      const [left] = await dataSource.query<{ capture: number; outbox: number }[]>(
        `SELECT (SELECT count(*)::int FROM outbox_capture) AS capture,
                (SELECT count(*)::int FROM outbox o JOIN events e USING (position) WHERE e.order_id = $1) AS outbox`,
        [orderId],
      );
      assert.deepEqual(left, { capture: 0, outbox: 0 }, 'nothing piles up, and the in-process outbox is not written');
      const captured: Record<string, string | null>[] = await dataSource.query(
        `SELECT c.* FROM captured c JOIN events e ON e.event_id = c.event_id WHERE e.order_id = $1 ORDER BY e.version`,
        [orderId],
      );
      const rows: EventRow[] = await dataSource.query(
        `SELECT position, event_id, order_id, version, type, schema_version, data, metadata, occurred_at
           FROM events WHERE order_id = $1 ORDER BY version`,
        [orderId],
      );
      assert.equal(captured.length, events.length);
      rows.forEach((row, index) => {
        const expected = relayRecord(row);
        const record = captured[index];
        assert.ok(record);
        assert.equal(record.order_id, expected.key);
        assert.equal(record.payload, expected.value);
        const headers = Object.fromEntries(
          [
            ['event-type', record.event_type],
            ['schema-version', record.schema_version],
            ['event-id', record.event_id],
            ['correlation-id', record.correlation_id],
            ['causation-id', record.causation_id],
            ['traceparent', record.traceparent],
          ].filter(([, value]) => value !== null),
        );
        assert.deepEqual(headers, expected.headers);
      });
    });

    it('in debezium mode, a concurrent writer still loses with ConcurrencyConflict and leaves no record', async () => {
      const store = new EventStore(dataSource, sql);
      store.useRelay('debezium');
      const orderId = randomUUID();
      await store.transaction((db) => store.append(db, orderId, 0, [event({ first: true }, untraced)]));
      const late = event({ second: true }, untraced);
      await assert.rejects(
        store.transaction((db) => store.append(db, orderId, 0, [late])),
        (error) => error instanceof ConcurrencyConflict,
      );
      const [kept] = await dataSource.query<{ count: number }[]>(
        'SELECT count(*)::int AS count FROM captured WHERE event_id = $1',
        [late.eventId],
      );
      assert.equal(kept?.count, 0, 'a rolled-back append captures nothing');
    });
  });
