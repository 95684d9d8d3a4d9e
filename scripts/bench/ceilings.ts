/**
 * The raw ceilings: what the parts the system is built from do on this machine, in this run, with
 * nothing of ours in the way. Each figure is the best the system could hope for at that step.
 */
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import pg from 'pg';

import { quoteIdentifier } from '@app/platform';

import { cpuUsPer, kafkaMs, ownCpuMs } from './cpu.js';
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
export async function appendCeiling(
  databaseUrl: string,
  { connections, durationSeconds }: { connections: number; durationSeconds: number },
): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: connections, application_name: 'bench-append' });
  const data = JSON.stringify({
    customerId: 'customer-bench',
    currency: 'EUR',
    lines: [
      { sku: 'SKU-A', quantity: 2, unitPriceMinor: 1_250 },
      { sku: 'SKU-B', quantity: 1, unitPriceMinor: 4_990 },
    ],
  });
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
  const producer = rawKafka(brokers).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    const sample = syntheticLifecycle(randomUUID(), 0)[0];
    if (!sample) throw new Error('no sample event');
    const batch = (): kafkajs.Message[] =>
      Array.from({ length: 1_000 }, () => ({ key: randomUUID(), value: sample.value, headers: { ...sample.headers } }));
    const started = performance.now();
    for (let sent = 0; sent < messages; sent += 1_000) await producer.send({ topic, acks: -1, messages: batch() });
    return messages / ((performance.now() - started) / 1_000);
  } finally {
    await producer.disconnect();
  }
}

/**
 * kafkajs reading `topic` from offset zero to its end with a do-nothing eachBatch, with the replay's
 * fetch sizes. Timed from the start of the run, as the replay is, so joining the group counts too;
 * with the CPU each message cost kafkajs and the broker over the same span.
 */
export async function consumeCeiling(
  brokers: readonly string[],
  topic: string,
  events: number,
  groupId: string,
  timeoutMs = 600_000,
): Promise<{ perSecond: number; cpuUsPerMessage: Readonly<Record<'kafkajs' | 'kafka' | 'total', number>> }> {
  const consumer = rawKafka(brokers).consumer({
    groupId,
    maxBytesPerPartition: 2 * 1024 * 1024,
    maxBytes: 6 * 1024 * 1024,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const cpuBefore = consumeCpuMs();
    const started = performance.now();
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`consumed ${String(seen)} of ${String(events)} events in ${String(timeoutMs / 1_000)} s`));
      }, timeoutMs);
      consumer
        .run({
          eachBatchAutoResolve: true,
          eachBatch: ({ batch }) => {
            seen += batch.messages.length;
            if (seen >= events) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
    const perSecond = seen / ((performance.now() - started) / 1_000);
    return { perSecond, cpuUsPerMessage: cpuUsPer(cpuBefore, consumeCpuMs(), seen) };
  } finally {
    await consumer.disconnect();
  }
}

/** The consume ceiling's CPU so far, in ms: kafkajs in this process (nothing else runs here meanwhile) and the broker. */
function consumeCpuMs(): Readonly<Record<'kafkajs' | 'kafka', number>> {
  return { kafkajs: ownCpuMs(), kafka: kafkaMs() };
}

/**
 * Multi-row upserts into a copy of the live order view's table (columns, keys and indexes), 1,000 rows
 * a statement and a transaction, on as many connections as a replay applies partitions at once, each
 * with its own orders: each order is inserted, then updated three times, as its four events would be.
 * Rows per second.
 */
export async function upsertCeiling(databaseUrl: string, rows: number, connections: number): Promise<number> {
  const setup = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-upsert' });
  await setup.connect();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: connections, application_name: 'bench-upsert' });
  try {
    const { rows: live } = await setup.query<{ schema_name: string }>(
      "SELECT schema_name FROM projection_generations WHERE projection = 'order-view'",
    );
    const schema = live[0]?.schema_name;
    if (!schema) throw new Error('the order view has no live generation');
    await setup.query('DROP SCHEMA IF EXISTS bench_upsert CASCADE');
    await setup.query('CREATE SCHEMA bench_upsert');
    await setup.query(
      `CREATE TABLE bench_upsert.order_view (LIKE ${quoteIdentifier(schema)}.order_view INCLUDING ALL)`,
    );
    const lines = JSON.stringify([
      { sku: 'SKU-A', quantity: 2, unitPriceMinor: 1_250 },
      { sku: 'SKU-B', quantity: 1, unitPriceMinor: 4_990 },
    ]);
    const statuses = ['PLACED', 'PLACED', 'CONFIRMED', 'SHIPPED'];
    const perConnection = Math.ceil(rows / 4 / connections);
    const started = performance.now();
    const written = await Promise.all(
      Array.from({ length: connections }, async () => {
        const orderIds = Array.from({ length: perConnection }, () => randomUUID());
        const client = await pool.connect();
        try {
          for (let version = 1; version <= 4; version++) {
            for (let first = 0; first < orderIds.length; first += 1_000) {
              await client.query('BEGIN');
              await client.query(
                `INSERT INTO bench_upsert.order_view AS v
                   (order_id, customer_id, status, currency, lines, total_minor, version, placed_at, updated_at, applied_events)
                 SELECT id, 'customer-bench', $2, 'EUR', $3::jsonb, 7490, $4, now(), now(), $4 FROM unnest($1::uuid[]) AS t(id)
                 ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, lines = EXCLUDED.lines, total_minor = EXCLUDED.total_minor,
                   version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, applied_events = EXCLUDED.applied_events
                 WHERE v.version < EXCLUDED.version`,
                [orderIds.slice(first, first + 1_000), statuses[version - 1], lines, version],
              );
              await client.query('COMMIT');
            }
          }
          return orderIds.length * 4;
        } finally {
          client.release();
        }
      }),
    );
    return written.reduce((sum, n) => sum + n, 0) / ((performance.now() - started) / 1_000);
  } finally {
    await pool.end();
    await setup.query('DROP SCHEMA IF EXISTS bench_upsert CASCADE').catch(() => undefined);
    await setup.end();
  }
}
