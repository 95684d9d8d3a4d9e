import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';

import pg from 'pg';
import { DataSource } from 'typeorm';

import { ORDER_EVENTS } from '@app/messaging';
import { decide, evolve, initialState, type OrderCommand, type OrderEvent, type OrderState } from '@app/orders-domain';
import { PipelinedSql } from '@app/platform';
import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { handleCommand, VersionMismatch, type Decider } from './command-handler.js';
import {
  ConcurrencyConflict,
  EventStore,
  EventTooLarge,
  type NewEvent,
  type SharedTransactionOutcome,
} from './event-store.js';
import { IdempotencyKeyReused, IdempotencyKeys, KEY_LOCK_CLASS } from './idempotency-keys.js';

const decider: Decider<OrderCommand, OrderEvent, OrderState> = { decide, evolve, initialState, events: ORDER_EVENTS };
const metadata = { correlationId: 'corr-1', causationId: 'cause-1' };

function newEvent(event: OrderEvent): NewEvent {
  return {
    eventId: randomUUID(),
    schemaVersion: ORDER_EVENTS.currentVersion(event.type),
    event,
    occurredAt: new Date('2026-11-24T10:00:00Z'),
    metadata,
  };
}

const placed: OrderEvent = {
  type: 'OrderPlaced',
  data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }], channel: 'web' },
};

// The command API runs on pipelined connections (a command in a few round trips); both must mean the same.
for (const sessions of ['TypeORM transactions', 'pipelined connections'] as const)
  describe(`event store on ${sessions}`, () => {
    let env: TestEnvironment;
    let dataSource: DataSource;
    let sql: PipelinedSql | undefined;
    let store: EventStore;

    before(async () => {
      env = await createTestEnvironment('event_store', { relay: 'in-process' });
      dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
      if (sessions === 'pipelined connections')
        sql = new PipelinedSql(env.config.databaseUrl, { max: 10, applicationName: 'event-store-test' });
      store = new EventStore(dataSource, sql);
    });

    after(async () => {
      await sql?.close();
      await dataSource.destroy();
      await env.dispose();
    });

    it('reads back what it appended, in version order, and queues it for the relay', async () => {
      const orderId = randomUUID();
      const events = [newEvent(placed), newEvent({ type: 'OrderConfirmed', data: { paymentReference: 'p-1' } })];
      const version = await store.transaction((db) => store.append(db, orderId, 0, events));
      assert.equal(version, 2);

      const stream = await store.readStream(orderId);
      assert.deepEqual(
        stream.map((e) => [e.version, e.event.type, e.eventId]),
        [
          [1, 'OrderPlaced', events[0]?.eventId],
          [2, 'OrderConfirmed', events[1]?.eventId],
        ],
      );
      assert.deepEqual(stream[0]?.metadata, metadata);
      const outbox = await env.db.query(
        'SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.order_id = $1',
        [orderId],
      );
      assert.equal(outbox.rows[0].n, 2);
    });

    it('refuses an append at a version another writer already took, and writes nothing', async () => {
      const orderId = randomUUID();
      await store.transaction((db) => store.append(db, orderId, 0, [newEvent(placed)]));
      await assert.rejects(
        store.transaction((db) => store.append(db, orderId, 0, [newEvent(placed)])),
        ConcurrencyConflict,
      );
      assert.equal((await store.readStream(orderId)).length, 1);
    });

    it('gives concurrent unpinned commands contiguous versions', async () => {
      const orderId = randomUUID();
      const options = { metadata, now: new Date(), newEventId: randomUUID, schemaVersion: 1 };
      await handleCommand(store, decider, orderId, { type: 'PlaceOrder', data: placed.data }, options);
      const skus = Array.from({ length: 8 }, (_, index) => `SKU-${index}`);
      const results = await Promise.all(
        skus.map((sku) =>
          handleCommand(
            store,
            decider,
            orderId,
            { type: 'AddOrderLine', data: { line: { sku, quantity: 1, unitPriceMinor: 1 } } },
            options,
          ),
        ),
      );
      assert.deepEqual(
        results.map((result) => result.version).sort((a, b) => a - b),
        [2, 3, 4, 5, 6, 7, 8, 9],
      );
      assert.deepEqual(
        (await store.readStream(orderId)).map((e) => e.version),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    });

    it('answers a pinned command whose version moved on with a version mismatch', async () => {
      const orderId = randomUUID();
      const options = { metadata, now: new Date(), newEventId: randomUUID, schemaVersion: 1 };
      await handleCommand(store, decider, orderId, { type: 'PlaceOrder', data: placed.data }, options);
      await assert.rejects(
        handleCommand(
          store,
          decider,
          orderId,
          { type: 'ConfirmOrder', data: { paymentReference: 'p' } },
          { ...options, expectedVersion: 0 },
        ),
        VersionMismatch,
      );
    });

    it('refuses an event too large for one Kafka record, and writes nothing', async () => {
      const orderId = randomUUID();
      const huge: OrderEvent = { type: 'OrderCancelled', data: { reason: 'x'.repeat(1_100_000) } };
      await assert.rejects(
        store.transaction((db) => store.append(db, orderId, 0, [newEvent(huge)])),
        EventTooLarge,
      );
      assert.equal((await store.readStream(orderId)).length, 0);
    });
  });

describe('event store: a group commit of new streams', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let sql: PipelinedSql;
  let store: EventStore;
  const shared = { exclusive: undefined };
  /** What the store's observer heard of each shared transaction since the test began. */
  const heard: [number, SharedTransactionOutcome][] = [];

  before(async () => {
    env = await createTestEnvironment('event_store_groups', { relay: 'in-process' });
    dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
    sql = new PipelinedSql(env.config.databaseUrl, { max: 10, applicationName: 'event-store-test' });
    store = new EventStore(dataSource, sql);
    // One shared transaction at a time: what is submitted while it runs waits and goes together.
    store.groupCommits({ transactions: 1, maxCommands: 16 });
    store.observeSharedTransactions((commands, outcome) => heard.push([commands, outcome]));
  });

  beforeEach(() => {
    heard.length = 0;
  });

  after(async () => {
    await sql.close();
    await dataSource.destroy();
    await env.dispose();
  });

  /** The transactions (by id) that wrote each order's events, and how many outbox rows each order has. */
  async function written(orderIds: readonly string[]): Promise<{ transactions: number; outbox: Map<string, number> }> {
    const events = await env.db.query<{ order_id: string; xmin: string; queued: number }>(
      `SELECT e.order_id, e.xmin::text AS xmin, count(o.position)::int AS queued
         FROM events e LEFT JOIN outbox o USING (position) WHERE e.order_id = ANY($1::uuid[])
        GROUP BY e.order_id, e.xmin`,
      [orderIds],
    );
    return {
      transactions: new Set(events.rows.map((row) => row.xmin)).size,
      outbox: new Map(events.rows.map((row) => [row.order_id, row.queued])),
    };
  }

  it('commits what waited while its transaction was busy in one transaction, each with its own answer and rows', async () => {
    const orderIds = Array.from({ length: 6 }, () => randomUUID());
    const versions = await Promise.all(
      orderIds.map((orderId) => store.transaction((db) => store.append(db, orderId, 0, [newEvent(placed)]), shared)),
    );
    assert.deepEqual(versions, [1, 1, 1, 1, 1, 1]);
    const { transactions, outbox } = await written(orderIds);
    assert.equal(transactions, 2); // the first alone, at once; the five that waited for it, together
    assert.deepEqual(heard, [[5, 'committed']]);
    assert.deepEqual(
      orderIds.map((orderId) => outbox.get(orderId)),
      [1, 1, 1, 1, 1, 1],
    );
  });

  it('commits nothing of a command that failed after it appended, and each of the others on its own', async () => {
    const orderIds = Array.from({ length: 5 }, () => randomUUID());
    const failing = orderIds[2];
    const refused = new Error('failed after its append');
    const answers = await Promise.allSettled(
      orderIds.map((orderId) =>
        store.transaction(async (db) => {
          const version = await store.append(db, orderId, 0, [newEvent(placed)]);
          if (orderId === failing) throw refused;
          return version;
        }, shared),
      ),
    );
    assert.deepEqual(
      answers.map((answer) => (answer.status === 'fulfilled' ? answer.value : (answer.reason as Error).message)),
      [1, 1, refused.message, 1, 1],
    );
    const { outbox } = await written(orderIds);
    assert.deepEqual(
      orderIds.map((orderId) => outbox.get(orderId) ?? 0),
      [1, 1, 0, 1, 1],
    );
    assert.deepEqual(heard, [[4, 'rolled back']], 'the four that waited went together, then each alone');
  });

  const keys = new IdempotencyKeys(3_600);
  /** A placement with an idempotency key, as the command API runs one: the key's answer, or a new order. */
  const placeWithKey = (key: string, fingerprint = 'POST /orders {"lines":1}') => {
    const orderId = randomUUID();
    return store.transaction(
      async (db): Promise<{ orderId: string; replayed: boolean }> => {
        const previous = await keys.lookup(db, key, fingerprint);
        if (previous.kind === 'mismatch') throw new IdempotencyKeyReused(key);
        if (previous.kind === 'replay')
          return { orderId: (previous.response.body as { orderId: string }).orderId, replayed: true };
        await store.append(db, orderId, 0, [newEvent(placed)]);
        await keys.record(db, key, fingerprint, { status: 201, body: { orderId }, headers: {} });
        return { orderId, replayed: false };
      },
      { exclusive: key },
    );
  };

  it("shares a transaction between placements with keys, never between a key's duplicates, which answer the first's order", async () => {
    const [k0, k1, k2, k3] = ['k0', 'k1', 'k2', 'k3'].map((name) => `${name}-${randomUUID()}`) as [
      string,
      string,
      string,
      string,
    ];
    const first = placeWithKey(k0); // alone, at once; the others wait for it
    const [one, two, twoAgain, three] = [placeWithKey(k1), placeWithKey(k2), placeWithKey(k2), placeWithKey(k3)];
    const reused = assert.rejects(placeWithKey(k1, 'POST /orders {"lines":2}'), IdempotencyKeyReused);
    const answers = await Promise.all([first, one, two, twoAgain, three]);
    await reused;
    const [, placedOne, placedTwo, again, placedThree] = answers;
    assert.deepEqual(again, { orderId: placedTwo.orderId, replayed: true });
    const { transactions } = await written([placedOne.orderId, placedTwo.orderId, placedThree.orderId]);
    assert.equal(transactions, 1); // k1, k2 and k3 together; k2's duplicate and k1's reuse waited for them
    const orders = await env.db.query<{ n: number }>(
      'SELECT count(DISTINCT order_id)::int AS n FROM events WHERE order_id = ANY($1::uuid[])',
      [answers.map((answer) => answer.orderId)],
    );
    assert.equal(orders.rows[0]?.n, 4);
  });

  it('gives up a shared transaction whose placement waits for a key held elsewhere: the others commit meanwhile', async () => {
    const held = `held-${randomUUID()}`;
    const holder = new pg.Client({ connectionString: env.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [KEY_LOCK_CLASS, held]);
      const first = store.transaction((db) => store.append(db, randomUUID(), 0, [newEvent(placed)]), shared);
      const waiting = placeWithKey(held);
      const others = [placeWithKey(`a-${randomUUID()}`), placeWithKey(`b-${randomUUID()}`)];
      // Answered while the key is still held: the shared transaction gave up its wait, and they ran alone.
      const answered = await Promise.all([first, ...others]);
      assert.equal(answered.length, 3);
      await holder.query('COMMIT');
      const { orderId, replayed } = await waiting;
      assert.equal(replayed, false);
      assert.equal((await store.readStream(orderId)).length, 1);
    } finally {
      await holder.end();
    }
  });

  it("answers a statement's failure to its own command only: a version taken is that command's conflict", async () => {
    const taken = randomUUID();
    await store.transaction((db) => store.append(db, taken, 0, [newEvent(placed)]));
    const orderIds = [randomUUID(), randomUUID(), taken, randomUUID()];
    const answers = await Promise.allSettled(
      orderIds.map((orderId) => store.transaction((db) => store.append(db, orderId, 0, [newEvent(placed)]), shared)),
    );
    assert.deepEqual(
      answers.map((answer) => answer.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.ok(answers[2]?.status === 'rejected' && answers[2].reason instanceof ConcurrencyConflict);
    assert.equal((await store.readStream(taken)).length, 1);
    const { outbox } = await written(orderIds);
    assert.deepEqual(
      orderIds.map((orderId) => outbox.get(orderId)),
      [1, 1, 1, 1],
    );
  });
});
