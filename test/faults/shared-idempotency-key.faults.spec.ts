import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import { KEY_LOCK_CLASS } from '@app/event-store';
import {
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  inParallel,
  placeOrderBody,
  reportFigure,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const DUPLICATES = 20;
const SEED = 9;
/**
 * Requests seen waiting on the key's lock at once before it is let go: the command API's pool (10
 * connections, 2 of them the load's) bounds how many can wait in Postgres at the same time.
 */
const QUEUED_AT_ONCE = 4;

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: { orderId?: string; version?: number; code?: string };
  readonly replayed: boolean;
  readonly etag: string | null;
  readonly location: string | null;
}

/**
 * Scenario 9: twenty clients send the same request with one Idempotency-Key at the same moment
 * (a retry storm), under load. One effect, and every client gets the very same answer; the same
 * key with another body, another endpoint, or racing with another body answers 422 and writes nothing.
 */
describe('fault: concurrent requests sharing one idempotency key', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let commandUrl: string;

  before(async () => {
    env = await createTestEnvironment('shared_idempotency_key', { partitions: 3 });
    // What this scenario proves is the key's lock in the database, which is all that keeps apart the
    // duplicates that reach different processes: so each command gets its own transaction here.
    // With the group commit on (the default), one process holds a key's duplicates in memory until
    // the first is answered (ADR 15), and only the first would wait in the database.
    system = await startSystem({ ...env.config, commandGroups: { ...env.config.commandGroups, transactions: 0 } });
    await system.commandApi.listen(0, '127.0.0.1');
    commandUrl = await system.commandApi.getUrl();
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  const send = async (path: string, key: string, body: object | string): Promise<Answer> => {
    const response = await fetch(`${commandUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      text,
      body: JSON.parse(text) as Answer['body'],
      replayed: response.headers.get('idempotent-replayed') === 'true',
      etag: response.headers.get('etag'),
      location: response.headers.get('location'),
    };
  };
  const eventsOf = async (orderId: string): Promise<number> =>
    (await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE order_id = $1', [orderId])).rows[0]
      ?.n ?? -1;
  // The load sends no keys: every row is this test's.
  const keyCount = async (): Promise<number> =>
    (await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM idempotency_keys')).rows[0]?.n ?? -1;
  const ordersOf = async (customerId: string): Promise<string[]> =>
    (
      await env.db.query<{ order_id: string }>(
        "SELECT order_id::text FROM events WHERE type = 'OrderPlaced' AND data->>'customerId' = $1",
        [customerId],
      )
    ).rows.map((row) => row.order_id);

  /**
   * Sends the requests at once while the test holds the key's lock (each request with a key locks
   * it first), and lets go only once many of them wait on it together: the storm really has
   * concurrent contenders inside the database. Returns the answers and how many waited at once.
   */
  const storm = async <T>(key: string, requests: () => Promise<T>[]): Promise<{ answers: T[]; queued: number }> => {
    const holder = new pg.Client({ connectionString: env.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [KEY_LOCK_CLASS, key]);
      const answers = Promise.all(requests());
      const queued = await eventually(
        async () => {
          const { rows } = await env.db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = hashtext($2)::oid AND objsubid = 2 AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [KEY_LOCK_CLASS, key],
          );
          const waiting = rows[0]?.n ?? 0;
          assert.ok(waiting >= QUEUED_AT_ONCE, `${String(waiting)} requests wait on the key's lock`);
          return waiting;
        },
        { timeoutMs: 30_000, intervalMs: 20 },
      );
      await holder.query('COMMIT');
      return { answers: await answers, queued };
    } finally {
      await holder.end();
    }
  };

  /** Every answer is byte-for-byte the first one: status, body, ETag, Location; all but one are replays. */
  const assertOneAnswer = (answers: readonly Answer[], status: number): void => {
    const first = answers[0];
    assert.ok(first);
    for (const answer of answers) {
      assert.deepEqual(
        { status: answer.status, text: answer.text, etag: answer.etag, location: answer.location },
        { status, text: first.text, etag: first.etag, location: first.location },
      );
    }
    assert.equal(
      answers.filter((answer) => !answer.replayed).length,
      1,
      'one request ran the command, the others replayed its answer',
    );
  };

  it('produces one effect and one answer per key; another body with the key answers 422 and writes nothing', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const random = seededRandom(SEED);
    const load = inParallel(40, 2, async () => {
      await runRandomLifecycle(
        system.commandApi.getHttpServer(),
        seededRandom(Math.floor(random() * 2 ** 32)),
        undefined,
        {
          onAcknowledged: (orderId, version, eventType) => {
            acknowledged.record(orderId, version, eventType);
          },
        },
      );
    });

    // 1. Twenty identical placements with one key: one order.
    const placeKey = `place-${randomUUID()}`;
    const placeBody = placeOrderBody({
      customerId: 'idem-customer-1',
      lines: [
        { sku: 'A-1', quantity: 1, unitPriceMinor: 500 },
        { sku: 'B-2', quantity: 3, unitPriceMinor: 70 },
      ],
    });
    const { answers: placed, queued: queuedPlace } = await storm(placeKey, () =>
      Array.from({ length: DUPLICATES }, () => send('/orders', placeKey, placeBody)),
    );
    assertOneAnswer(placed, 201);
    const orderId = placed[0]?.body.orderId ?? '';
    assert.deepEqual(await ordersOf('idem-customer-1'), [orderId]);
    acknowledged.record(orderId, 1, 'OrderPlaced');

    // 2. Twenty identical confirmations with one key: one OrderConfirmed.
    const confirmKey = `confirm-${randomUUID()}`;
    const { answers: confirmed, queued: queuedConfirm } = await storm(confirmKey, () =>
      Array.from({ length: DUPLICATES }, () =>
        send(`/orders/${orderId}/confirm`, confirmKey, { paymentReference: 'pay-idem' }),
      ),
    );
    assertOneAnswer(confirmed, 200);
    assert.equal(confirmed[0]?.body.version, 2);
    acknowledged.record(orderId, 2, 'OrderConfirmed');

    // 3. The same keys with anything else: 422, nothing written. The same body with its keys in another order is the same request.
    const keysBefore = await keyCount();
    const reorderedBody = `{"lines":[{"unitPriceMinor":500,"quantity":1,"sku":"A-1"},{"sku":"B-2","unitPriceMinor":70,"quantity":3}],"currency":"EUR","customerId":"idem-customer-1"}`;
    const replayedReordered = await send('/orders', placeKey, reorderedBody);
    assert.equal(replayedReordered.text, placed[0]?.text);
    assert.ok(replayedReordered.replayed);
    const misuses = await Promise.all([
      send('/orders', placeKey, { ...placeBody, customerId: 'idem-customer-other' }),
      send('/orders', placeKey, { ...placeBody, currency: 'USD' }),
      send(`/orders/${orderId}/cancel`, placeKey, { reason: 'same key, other endpoint' }),
      send(`/orders/${orderId}/confirm`, confirmKey, { paymentReference: 'pay-other' }),
      ...Array.from({ length: DUPLICATES }, (_, index) =>
        send('/orders', placeKey, { ...placeBody, customerId: `idem-storm-${index}` }),
      ),
    ]);
    for (const misuse of misuses)
      assert.deepEqual(
        { status: misuse.status, code: misuse.body.code },
        { status: 422, code: 'IDEMPOTENCY_KEY_REUSED' },
        misuse.text,
      );
    assert.deepEqual(await ordersOf('idem-customer-other'), []);
    const stormOrders = await env.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE type = 'OrderPlaced' AND data->>'customerId' LIKE 'idem-storm-%'",
    );
    assert.equal(stormOrders.rows[0]?.n, 0, 'no order from a rejected reuse');
    assert.equal(await eventsOf(orderId), 2, 'no event on the order from a rejected reuse');
    assert.equal(await keyCount(), keysBefore, 'a rejected reuse records no key');

    // 4. A fresh key raced by two different bodies: whichever runs first owns the key; the other body's requests all answer 422.
    const raceKey = `race-${randomUUID()}`;
    const bodies = [placeOrderBody({ customerId: 'idem-race-a' }), placeOrderBody({ customerId: 'idem-race-b' })];
    const { answers: raced, queued: queuedRace } = await storm(raceKey, () =>
      Array.from({ length: DUPLICATES }, (_, index) =>
        send('/orders', raceKey, bodies[index % 2] ?? {}).then((answer) => ({ answer, body: index % 2 })),
      ),
    );
    const winners = raced.filter(({ answer }) => answer.status === 201);
    const winningBody = winners[0]?.body;
    assert.ok(winners.length > 0 && winners.every(({ body }) => body === winningBody), 'one body wins the key');
    assertOneAnswer(
      winners.map(({ answer }) => answer),
      201,
    );
    for (const { answer } of raced.filter(({ body }) => body !== winningBody))
      assert.equal(answer.status, 422, answer.text);
    const raceOrders = [...(await ordersOf('idem-race-a')), ...(await ordersOf('idem-race-b'))];
    assert.deepEqual(raceOrders, [winners[0]?.answer.body.orderId]);
    acknowledged.record(raceOrders[0] ?? '', 1, 'OrderPlaced');

    assert.equal(await keyCount(), keysBefore + 1, 'the race recorded its one key');
    await load;

    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(await keyCount(), 3, 'one key recorded per storm, none by the load or a rejected reuse');
    const effects = (await ordersOf('idem-customer-1')).length + (await eventsOf(orderId)) - 1 + raceOrders.length;
    assert.equal(effects, 3, "one effect per key: the placement, the confirmation, the race's placement");
    const reusesRejected = misuses.length + raced.filter(({ body }) => body !== winningBody).length;
    reportFigure('shared-idempotency-key', {
      concurrentRequests: placed.length + confirmed.length + raced.length,
      waitingOnTheKeyAtOnce: Math.min(queuedPlace, queuedConfirm, queuedRace),
      keys: 3,
      effects,
      identicalAnswers: true,
      reusesRejected: `${String(reusesRejected)} (422)`,
      writtenByRejectedReuse: 0,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
