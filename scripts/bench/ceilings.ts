/**
 * The raw ceilings: what the parts the system is built from do on this machine, in this run, with
 * nothing of ours in the way. Each figure is the best the system could hope for at that step.
 */
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import pg from 'pg';

import { syntheticLifecycle } from './synthetic-log.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

/** Runs `work` on `concurrency` loops until `seconds` have passed; returns completions per second. */
async function closedLoop(concurrency: number, seconds: number, work: () => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1_000;
  const started = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await work();
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1_000);
}

/**
 * The append transaction and nothing else, through `pg` at the HTTP load's concurrency: the
 * event row, its outbox row, the idempotency key's row, commit. No lock, no read, no decision.
 */
export async function appendCeiling(databaseUrl: string, { connections, durationSeconds }: { connections: number; durationSeconds: number }): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: connections, application_name: 'bench-append' });
  const data = JSON.stringify({ customerId: 'customer-bench', currency: 'EUR', lines: [{ sku: 'SKU-A', quantity: 2, unitPriceMinor: 1_250 }, { sku: 'SKU-B', quantity: 1, unitPriceMinor: 4_990 }] });
  const append = async (): Promise<void> => {
    const client = await pool.connect();
    try {
      const orderId = randomUUID();
      await client.query('BEGIN');
      await client.query(
        `WITH appended AS (
           INSERT INTO events (event_id, order_id, version, type, schema_version, data, metadata, occurred_at)
           VALUES ($1, $2, 1, 'OrderPlaced', 1, $3, '{}', now()) RETURNING position
         )
         INSERT INTO outbox (position) SELECT position FROM appended`,
        [randomUUID(), orderId, data],
      );
      await client.query(
        `INSERT INTO idempotency_keys (key, fingerprint, response_status, response_body, response_headers, expires_at)
         VALUES ($1, 'bench', 201, $2, '{}', now() + interval '1 day')`,
        [randomUUID(), JSON.stringify({ orderId, version: 1, status: 'PLACED' })],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  };
  try {
    await closedLoop(connections, Math.max(1, durationSeconds / 5), append); // warm-up
    return await closedLoop(connections, durationSeconds, append);
  } finally {
    await pool.end();
  }
}

function rawKafka(brokers: readonly string[]): kafkajs.Kafka {
  return new Kafka({ clientId: 'bench-ceiling', brokers: [...brokers], logLevel: logLevel.ERROR });
}

/**
 * kafkajs producing keyed records of a real event's size and headers, with the relay's guarantees
 * (idempotent, acknowledged by all in-sync replicas), in batches of 1,000.
 */
export async function produceCeiling(brokers: readonly string[], topic: string, messages: number): Promise<number> {
  const producer = rawKafka(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const sample = syntheticLifecycle(randomUUID(), 0)[0];
    if (!sample) throw new Error('no sample event');
    const batch = (): kafkajs.Message[] => Array.from({ length: 1_000 }, () => ({ key: randomUUID(), value: sample.value, headers: { ...sample.headers } }));
    const started = performance.now();
    for (let sent = 0; sent < messages; sent += 1_000) await producer.send({ topic, acks: -1, messages: batch() });
    return messages / ((performance.now() - started) / 1_000);
  } finally {
    await producer.disconnect();
  }
}

/**
 * kafkajs reading `topic` from offset zero to its end with a do-nothing eachBatch, with the replay's
 * fetch sizes. Timed from the start of the run, as the replay is, so joining the group counts too.
 */
export async function consumeCeiling(brokers: readonly string[], topic: string, events: number): Promise<number> {
  const consumer = rawKafka(brokers).consumer({ groupId: `bench-consume-${randomUUID()}`, maxBytesPerPartition: 2 * 1024 * 1024, maxBytes: 6 * 1024 * 1024, maxWaitTimeInMs: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const started = performance.now();
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        eachBatchAutoResolve: true,
        eachBatch: ({ batch }) => {
          seen += batch.messages.length;
          if (seen >= events) resolve();
          return Promise.resolve();
        },
      }).catch(reject);
    });
    return seen / ((performance.now() - started) / 1_000);
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Multi-row upserts into a copy of the order view's table (columns, keys and indexes), 1,000 rows a
 * statement and a transaction, from one connection as a replay writes: each order is inserted, then
 * updated three times, as its four events would. Rows per second.
 */
export async function upsertCeiling(databaseUrl: string, rows: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-upsert' });
  await client.connect();
  try {
    await client.query('DROP SCHEMA IF EXISTS bench_upsert CASCADE');
    await client.query('CREATE SCHEMA bench_upsert');
    await client.query('CREATE TABLE bench_upsert.order_view (LIKE order_view_g1.order_view INCLUDING ALL)');
    const orderIds = Array.from({ length: Math.ceil(rows / 4) }, () => randomUUID());
    const lines = JSON.stringify([{ sku: 'SKU-A', quantity: 2, unitPriceMinor: 1_250 }, { sku: 'SKU-B', quantity: 1, unitPriceMinor: 4_990 }]);
    const statuses = ['PLACED', 'PLACED', 'CONFIRMED', 'SHIPPED'];
    const started = performance.now();
    let written = 0;
    for (let version = 1; version <= 4; version++) {
      for (let first = 0; first < orderIds.length; first += 1_000) {
        const ids = orderIds.slice(first, first + 1_000);
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO bench_upsert.order_view AS v
             (order_id, customer_id, status, currency, lines, total_minor, version, placed_at, updated_at, applied_events)
           SELECT id, 'customer-bench', $2, 'EUR', $3::jsonb, 7490, $4, now(), now(), $4 FROM unnest($1::uuid[]) AS t(id)
           ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, lines = EXCLUDED.lines, total_minor = EXCLUDED.total_minor,
             version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, applied_events = EXCLUDED.applied_events
           WHERE v.version < EXCLUDED.version`,
          [ids, statuses[version - 1], lines, version],
        );
        await client.query('COMMIT');
        written += ids.length;
      }
    }
    return written / ((performance.now() - started) / 1_000);
  } finally {
    await client.query('DROP SCHEMA IF EXISTS bench_upsert CASCADE').catch(() => undefined);
    await client.end();
  }
}
