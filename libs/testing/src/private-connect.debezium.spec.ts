import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';
import pg from 'pg';

import { captureConnectorConfig, captureHeartbeatTopic, captureSlotLagBytes, dropCaptureSlot } from '@app/event-store';

import { eventually } from './eventually.js';
import { PrivateConnect } from './private-connect.js';
import { PrivatePostgres } from './private-postgres.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

// The app's side of the contract (its migration creates the same).
const CAPTURE_DDL = `
  CREATE TABLE outbox_capture (
    event_id uuid PRIMARY KEY,
    order_id text NOT NULL,
    payload text NOT NULL,
    event_type text NOT NULL,
    schema_version text NOT NULL,
    correlation_id text NOT NULL,
    causation_id text NOT NULL,
    traceparent text
  );
  CREATE PUBLICATION outbox_capture FOR TABLE outbox_capture WITH (publish = 'insert');`;

interface CapturedRow {
  readonly eventId: string;
  readonly orderId: string;
  readonly payload: string;
  readonly eventType: string;
  readonly schemaVersion: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent: string | null;
}

/** What the in-process relay publishes for a row: encodeEnvelope's headers, traceparent only when there is one. */
function expectedHeaders(row: CapturedRow): Record<string, string> {
  const headers: Record<string, string> = {
    'event-type': row.eventType,
    'schema-version': row.schemaVersion,
    'event-id': row.eventId,
    'correlation-id': row.correlationId,
    'causation-id': row.causationId,
  };
  if (row.traceparent !== null) headers.traceparent = row.traceparent;
  return headers;
}

function rowOf(index: number): CapturedRow {
  const orderId = randomUUID();
  const eventId = randomUUID();
  // Bytes a re-encoding would change: non-ASCII, escapes, spacing, key order.
  const payload = `{"eventId":"${eventId}","type":"OrderPlaced","schemaVersion":1,"orderId":"${orderId}","version":1,"data":{"note":"Grüße \\u00e9 ✓","n":${String(index)}},  "z":1}`;
  return {
    eventId,
    orderId,
    payload,
    eventType: 'OrderPlaced',
    schemaVersion: '1',
    correlationId: randomUUID(),
    causationId: randomUUID(),
    traceparent: index % 2 === 0 ? null : `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
  };
}

/** One transaction per batch: each row inserted and deleted again, as the app does. */
async function capture(db: pg.Pool, rows: readonly CapturedRow[]): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    for (const row of rows) {
      await client.query(
        `INSERT INTO outbox_capture (event_id, order_id, payload, event_type, schema_version, correlation_id, causation_id, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          row.eventId,
          row.orderId,
          row.payload,
          row.eventType,
          row.schemaVersion,
          row.correlationId,
          row.causationId,
          row.traceparent,
        ],
      );
    }
    await client.query('DELETE FROM outbox_capture WHERE event_id = ANY($1::uuid[])', [rows.map((row) => row.eventId)]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

describe('the outbox relay as Debezium on Kafka Connect', { timeout: 600_000 }, () => {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const id = `${process.env.TEST_RUN_ID ?? 'local'}_${randomBytes(3).toString('hex')}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');
  const topic = `orders.events.test.${id}.capture`;
  const twinTopic = `${topic}.kafkajs`;
  const connector = `capture-${id}`;
  const slot = `capture_${id}`.slice(0, 58);
  // EventRouter without our DropNullHeaders, to show why it is there.
  const rawTopic = `${topic}.raw`;
  const rawConnector = `${connector}-raw`;
  const rawSlot = `${slot}_raw`;
  const topics = [topic, twinTopic, rawTopic, captureHeartbeatTopic(connector), captureHeartbeatTopic(rawConnector)];
  const kafka = new Kafka({ clientId: `capture-test-${id}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  let postgres: PrivatePostgres;
  let connect: PrivateConnect;
  let db: pg.Pool;

  before(async () => {
    postgres = await PrivatePostgres.start({ logical: true });
    db = new pg.Pool({ connectionString: postgres.url, max: 4 });
    await db.query(CAPTURE_DDL);
    await admin.connect();
    await admin.createTopics({
      topics: topics.map((name) => ({
        topic: name,
        numPartitions: name.startsWith('__') ? 1 : 6,
        replicationFactor: 1,
      })),
      waitForLeaders: true,
    });
    connect = await PrivateConnect.start({ brokers });
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readStatus(connect.pid))?.[1] ?? 0) / 1024;
    console.log(`Connect worker answered in ${String(connect.startedInMs)} ms, RSS ${rss.toFixed(0)} MB`);
  });

  after(async () => {
    try {
      for (const [name, slotName] of [
        [connector, slot],
        [rawConnector, rawSlot],
      ] as const) {
        await connect.remove(name);
        // The slot's walsender leaves a moment after its task: poll until the slot can be dropped.
        await eventually(() => dropCaptureSlot(db, slotName), { timeoutMs: 30_000, intervalMs: 100 });
      }
      const { rows } = await db.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots');
      assert.deepEqual(rows, [], 'no replication slot outlives the test');
    } finally {
      await connect.destroy();
      await db.end();
      await postgres.destroy();
      const existing = new Set(await admin.listTopics());
      const ours = topics.filter((name) => existing.has(name));
      if (ours.length > 0) await admin.deleteTopics({ topics: ours });
      await admin.disconnect();
    }
  });

  it('fails fast, with the reason, when the publication does not exist', async () => {
    const wrong = `${connector}-wrong`;
    const started = Date.now();
    await connect.register(
      wrong,
      captureConnectorConfig({
        databaseUrl: postgres.url,
        topic,
        connectorName: wrong,
        slotName: `${slot}_w`,
        publication: 'no_such_publication',
      }),
    );
    await assert.rejects(connect.waitRunning(wrong, 120_000), /Publication autocreation is disabled/);
    assert.ok(Date.now() - started < 60_000, 'the failure shows long before the wait would time out');
    await connect.remove(wrong);
    // Debezium checks the publication before it creates the slot: nothing to drop.
    const { rows } = await db.query('SELECT slot_name FROM pg_replication_slots');
    assert.deepEqual(rows, []);
  });

  it('publishes every captured row as the in-process relay would: key, value, headers, partition', async () => {
    await connect.register(
      connector,
      captureConnectorConfig({ databaseUrl: postgres.url, topic, slotName: slot, connectorName: connector }),
    );
    await connect.waitRunning(connector, 120_000);

    const rows = Array.from({ length: 2_000 }, (_, index) => rowOf(index));
    for (let start = 0; start < rows.length; start += 100) await capture(db, rows.slice(start, start + 100));

    const records = await readAll(kafka, topic, rows.length, connect, connector);
    assert.equal(records.length, rows.length, 'every row once, nothing else');

    // Where kafkajs's default partitioner puts each key, by producing it.
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const kafkajsPartition = new Map<string, number>();
    try {
      for (const row of rows) {
        const [metadata] = await producer.send({ topic: twinTopic, messages: [{ key: row.orderId, value: 'x' }] });
        kafkajsPartition.set(row.orderId, metadata?.partition ?? -1);
      }
    } finally {
      await producer.disconnect();
    }

    const byEventId = new Map(rows.map((row) => [row.eventId, row]));
    const partitionsUsed = new Set<number>();
    for (const record of records) {
      const eventId = record.headers['event-id']?.toString('utf8') ?? '';
      const row = byEventId.get(eventId);
      assert.ok(row, `a record of a row we wrote (event-id ${eventId})`);
      byEventId.delete(eventId);
      assert.ok(record.key?.equals(Buffer.from(row.orderId, 'utf8')), 'key: the order id as UTF-8');
      assert.ok(
        record.value?.equals(Buffer.from(row.payload, 'utf8')),
        `value: the payload byte for byte: ${String(record.value)}`,
      );
      const headers = Object.fromEntries(
        Object.entries(record.headers).map(([name, value]) => [name, value === null ? null : value.toString('utf8')]),
      );
      assert.deepEqual(headers, expectedHeaders(row));
      assert.equal(record.partition, kafkajsPartition.get(row.orderId), `partition of key ${row.orderId}`);
      partitionsUsed.add(record.partition);
    }
    assert.equal(byEventId.size, 0);
    assert.equal(partitionsUsed.size, 6, 'the keys spread over every partition');
    // The slot exists and is (nearly) caught up once the offsets are flushed.
    await eventually(
      async () => {
        const lag = await captureSlotLagBytes(db, slot);
        assert.ok(lag !== undefined && lag < 1024 * 1024, `slot lag ${String(lag)} bytes`);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  });

  it('moves the slot on while the outbox is idle and other tables are busy', async () => {
    await connect.waitRunning(connector, 10_000);
    await db.query('CREATE TABLE busy (id bigserial PRIMARY KEY, pad text)');
    // About 60 MB of WAL that the publication does not carry.
    await db.query("INSERT INTO busy (pad) SELECT repeat('x', 500) FROM generate_series(1, 100000)");
    const behind = (await captureSlotLagBytes(db, slot)) ?? 0;
    assert.ok(behind > 16 * 1024 * 1024, `the slot is behind the busy table's WAL: ${String(behind)} bytes`);
    // Each heartbeat (10 s) writes a logical decoding message that the connector reads and confirms.
    const started = Date.now();
    await eventually(
      async () => {
        const lag = (await captureSlotLagBytes(db, slot)) ?? Infinity;
        assert.ok(lag < 1024 * 1024, `slot lag ${String(lag)} bytes`);
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    console.log(
      `the slot caught up with ${String(behind)} bytes of other tables' WAL in ${String(Date.now() - started)} ms`,
    );
  });

  it('needs DropNullHeaders: EventRouter alone turns a NULL traceparent into a header without a value', async () => {
    const config = captureConnectorConfig({
      databaseUrl: postgres.url,
      topic: rawTopic,
      slotName: rawSlot,
      connectorName: rawConnector,
    });
    const transforms = (config.transforms ?? '').split(',').filter((name) => name !== 'dropNullTraceparent');
    await connect.register(rawConnector, { ...config, transforms: transforms.join(',') });
    await connect.waitRunning(rawConnector, 120_000);
    const [withoutTrace, withTrace] = [rowOf(0), rowOf(1)];
    assert.ok(withoutTrace.traceparent === null && withTrace.traceparent !== null);
    await capture(db, [withoutTrace, withTrace]);

    const records = await readAll(kafka, rawTopic, 2, connect, rawConnector);
    const headersOf = (row: CapturedRow) =>
      records.find((record) => record.headers['event-id']?.toString('utf8') === row.eventId)?.headers ?? {};
    assert.ok('traceparent' in headersOf(withoutTrace), 'the header is there');
    assert.equal(headersOf(withoutTrace).traceparent, null, 'with a null value');
    assert.equal(headersOf(withTrace).traceparent?.toString('utf8'), withTrace.traceparent);
  });
});

interface RawRecord {
  readonly partition: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer | null>>;
}

/**
 * Reads the topic from the start with a throwaway group until `count` records came, then checks
 * that the topic holds no more than that (a duplicate or a stray record would show). Fails at once,
 * with the trace, if the connector fails meanwhile.
 */
async function readAll(
  kafka: kafkajs.Kafka,
  topic: string,
  count: number,
  connect: PrivateConnect,
  connector: string,
): Promise<RawRecord[]> {
  const groupId = `${topic}.reader`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000 });
  const admin = kafka.admin();
  const records: RawRecord[] = [];
  await Promise.all([consumer.connect(), admin.connect()]);
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([name, value]) => [name, headerBytes(value)]),
        );
        records.push({ partition, key: message.key, value: message.value, headers });
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + 120_000;
    while (records.length < count) {
      await connect.assertNotFailed(connector);
      if (Date.now() > deadline)
        throw new Error(`read ${String(records.length)} of ${String(count)} records of ${topic}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const ends = await admin.fetchTopicOffsets(topic);
    assert.equal(
      ends.reduce((sum, partition) => sum + Number(partition.high), 0),
      count,
      'the topic holds exactly the records read',
    );
    return records;
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

/** A header as kafkajs hands it over; null when the record carries the header without a value. */
function headerBytes(value: Buffer | string | (Buffer | string)[] | undefined | null): Buffer | null {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) throw new Error('a header repeated');
  return Buffer.from(value);
}

function readStatus(pid: number | undefined): string {
  try {
    return pid === undefined ? '' : readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  } catch {
    return '';
  }
}
