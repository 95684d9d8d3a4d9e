import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import request from 'supertest';

import {
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  inParallel,
  placeOrderBody,
  readTopic,
  readTopicToEnd,
  reportFigure,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

/** Lifecycles of other orders that commit while an append is held, each time. */
const LATER_LIFECYCLES = 10;

/**
 * Scenario 3: the commit-order gap. Positions come from an identity column and are taken before
 * commit, so an append that commits late has a lower position than appends that committed before it.
 * A relay that polls "above the last position I saw" would skip it for good.
 *
 * A real command is held open after its append: it records its idempotency key last in its
 * transaction, and the test holds an uncommitted row with the same key, so that insert waits.
 * Meanwhile other orders' commands commit and the relay publishes them. Then the held command
 * commits (the test's row goes away) or rolls back (its statement is cancelled).
 */
describe('fault: commit-order gap in the outbox', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  const acknowledged = new AcknowledgedCommands();
  const blockers: pg.Client[] = [];
  const random = seededRandom(3);
  let laterCommitted = 0;

  before(async () => {
    env = await createTestEnvironment('commit_gap', { partitions: 3 });
    system = await startSystem(env.config);
  });

  after(async () => {
    await Promise.all(blockers.map((client) => client.end().catch(() => undefined)));
    await system.close();
    await env.dispose();
  });

  const placeOrder = async (): Promise<string> => {
    const placed = await request(system.commandApi.getHttpServer()).post('/orders').send(placeOrderBody()).expect(201);
    const { orderId, version } = placed.body as { orderId: string; version: number };
    acknowledged.record(orderId, version, 'OrderPlaced');
    return orderId;
  };

  /** Starts `POST /orders/:id/lines` with `key`, whose transaction appends and then waits on the test's uncommitted key. */
  const holdAppend = async (
    orderId: string,
  ): Promise<{ held: Promise<request.Response>; pid: number; blocker: pg.Client }> => {
    const key = randomUUID();
    const blocker = new pg.Client({ connectionString: env.config.databaseUrl });
    blockers.push(blocker);
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(
      `INSERT INTO idempotency_keys (key, fingerprint, response_status, response_body, response_headers, expires_at)
       VALUES ($1, 'held by the test', 200, '{}', '{}', now() + interval '1 hour')`,
      [key],
    );
    const held = request(system.commandApi.getHttpServer())
      .post(`/orders/${orderId}/lines`)
      .set('Idempotency-Key', key)
      .send({ sku: 'HELD-1', quantity: 1, unitPriceMinor: 500 })
      .then((response) => response);
    const pid = await eventually(
      async () => {
        const { rows } = await env.db.query<{ pid: number; appended: boolean }>(
          `SELECT a.pid, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = 'events'::regclass AND l.mode = 'RowExclusiveLock') AS appended
           FROM pg_stat_activity a
          WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.query LIKE 'INSERT INTO idempotency_keys%'`,
        );
        assert.equal(rows.length, 1, 'the command waits on its idempotency key');
        assert.equal(rows[0]?.appended, true, 'after appending its event');
        return rows[0].pid;
      },
      { timeoutMs: 15_000, intervalMs: 25 },
    );
    return { held, pid, blocker };
  };

  /** Other orders' commands commit after the held one took its position; the relay publishes them all. */
  const commitLaterAppends = async (): Promise<void> => {
    const results = await inParallel(LATER_LIFECYCLES, 4, () =>
      runRandomLifecycle(system.commandApi.getHttpServer(), seededRandom(Math.floor(random() * 2 ** 32)), undefined, {
        onAcknowledged: (orderId, version, eventType) => {
          acknowledged.record(orderId, version, eventType);
        },
      }),
    );
    laterCommitted += results.length;
    const { rows } = await env.db.query<{ event_id: string }>('SELECT event_id::text FROM events');
    const committed = new Set(rows.map((row) => row.event_id));
    await readTopic(env.kafka, env.config.kafka.ordersTopic, (records) => {
      const seen = new Set(records.map((record) => record.headers['event-id']));
      return [...committed].every((id) => seen.has(id));
    });
    await eventually(async () => {
      const { rows: outbox } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
      assert.equal(outbox[0]?.n, 0, 'the relay has published, and recorded, everything committed so far');
    });
  };

  it("publishes an append that commits after later ones, in its order's order", async () => {
    const orderId = await placeOrder();
    const { held, blocker } = await holdAppend(orderId);
    // A second command of the same order queues behind the held one (the order's lock).
    const next = request(system.commandApi.getHttpServer())
      .post(`/orders/${orderId}/confirm`)
      .send({ paymentReference: 'pay-held' })
      .then((response) => response);
    await commitLaterAppends();

    await blocker.query('ROLLBACK'); // the test's key row goes away: the held command commits
    const [heldAnswer, nextAnswer] = await Promise.all([held, next]);
    assert.equal(heldAnswer.status, 200, heldAnswer.text);
    assert.equal(nextAnswer.status, 200, nextAnswer.text);
    acknowledged.record(orderId, (heldAnswer.body as { version: number }).version, 'OrderLineAdded');
    acknowledged.record(orderId, (nextAnswer.body as { version: number }).version, 'OrderConfirmed');
    assert.deepEqual(
      [(heldAnswer.body as { version: number }).version, (nextAnswer.body as { version: number }).version],
      [2, 3],
    );

    const { rows } = await env.db.query<{ late: string; later: string }>(
      `SELECT (SELECT position FROM events WHERE order_id = $1 AND version = 2)::text AS late,
              (SELECT max(position) FROM events WHERE order_id <> $1)::text AS later`,
      [orderId],
    );
    assert.ok(
      BigInt(rows[0]?.late ?? '0') < BigInt(rows[0]?.later ?? '0'),
      'the late commit has a lower position than appends the relay already published',
    );
    const { rows: lateEvent } = await env.db.query<{ event_id: string }>(
      'SELECT event_id::text FROM events WHERE order_id = $1 AND version = 2',
      [orderId],
    );
    const lateId = lateEvent[0]?.event_id;
    await readTopic(env.kafka, env.config.kafka.ordersTopic, (records) =>
      records.some((record) => record.headers['event-id'] === lateId),
    );
  });

  it('never publishes an append that rolls back after later ones committed', async () => {
    const orderId = await placeOrder();
    const { held, pid, blocker } = await holdAppend(orderId);
    await commitLaterAppends();

    await env.db.query('SELECT pg_cancel_backend($1)', [pid]); // the held transaction fails and rolls back
    const heldAnswer = await held;
    assert.ok(heldAnswer.status >= 500, `the rolled-back command was not acknowledged: ${String(heldAnswer.status)}`);
    await blocker.query('ROLLBACK');
    // The order goes on from version 1: the rolled-back version 2 never existed.
    const added = await request(system.commandApi.getHttpServer())
      .post(`/orders/${orderId}/lines`)
      .send({ sku: 'AFTER-1', quantity: 1, unitPriceMinor: 700 })
      .expect(200);
    assert.equal((added.body as { version: number }).version, 2);
    acknowledged.record(orderId, 2, 'OrderLineAdded');

    // topicMatchesStore: every record on the topic is a stored event (the rolled-back one is not), in order per order.
    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    // The rolled-back append, looked for by its content over the whole topic: the order's records are its v1 and the line added after.
    const { records } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
    const ofOrder = records
      .map(
        (record) => JSON.parse(record.value ?? '{}') as { orderId?: string; version?: number; data?: { sku?: string } },
      )
      .filter((event) => event.orderId === orderId);
    const rolledBackPublished = ofOrder.filter((event) => event.data?.sku === 'HELD-1').length;
    assert.equal(rolledBackPublished, 0, 'the rolled-back append is nowhere on the topic');
    assert.deepEqual(
      [...new Set(ofOrder.map((event) => event.version))],
      [1, 2],
      "the order's records are its v1 and the line added after the rollback",
    );
    // skipped 0: the oracle found every stored event, the late commit included, on the topic read to its end.
    reportFigure('commit-order-gap', {
      heldCommits: 1,
      heldRollbacks: 1,
      laterOrdersCommittedMeanwhile: laterCommitted,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      skipped: 0,
      rolledBackPublished,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
  });
});
