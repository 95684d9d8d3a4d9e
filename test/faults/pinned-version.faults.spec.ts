import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import { STREAM_LOCK_CLASS } from '@app/event-store';
import {
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  eventTypeOfCommand,
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

const CONTENDERS = 50;
const SEED = 8;
/**
 * Contenders seen waiting on the order's lock at once before it is let go: the command API's pool
 * (10 connections, 2 of them the load's) bounds how many can wait in Postgres at the same time.
 */
const QUEUED_AT_ONCE = 4;

interface Answer {
  readonly status: number;
  readonly body: { version?: number; code?: string; statusCode?: number };
  readonly etag: string | null;
}

/**
 * Scenario 8: fifty clients read the same version of one order and each sends a command pinned to
 * it with `If-Match`, all at once, while other orders are under load. Exactly one wins; every other
 * answers 412 VERSION_MISMATCH (ADR 4: writers of one order queue on a lock, so the losers see the
 * new version deterministically); the order gains exactly one event.
 */
describe('fault: 50 concurrent commands pinned to one version of one order', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let commandUrl: string;

  before(async () => {
    env = await createTestEnvironment('pinned_version', { partitions: 3 });
    system = await startSystem(env.config);
    // A real listening socket, so the fifty requests are truly concurrent connections.
    await system.commandApi.listen(0, '127.0.0.1');
    commandUrl = await system.commandApi.getUrl();
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  const send = async (
    method: string,
    path: string,
    body?: object,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const response = await fetch(`${commandUrl}${path}`, {
      method,
      headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return {
      status: response.status,
      body: (await response.json()) as Answer['body'],
      etag: response.headers.get('etag'),
    };
  };

  const eventsOf = async (orderId: string): Promise<number> =>
    (await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE order_id = $1', [orderId])).rows[0]
      ?.n ?? -1;

  const pinned = (
    orderId: string,
    version: number,
    { method, path, body }: { method: string; path: string; body?: object },
  ): Promise<Answer> => send(method, `/orders/${orderId}${path}`, body, { 'If-Match': `"${version}"` });
  /** Backends waiting for the order's stream lock (ADR 4), as Postgres sees them. */
  const waitingOnOrder = async (orderId: string): Promise<number> =>
    (
      await env.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = hashtext($2)::oid AND objsubid = 2 AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        [STREAM_LOCK_CLASS, orderId],
      )
    ).rows[0]?.n ?? 0;

  /**
   * Sends every command pinned to `version` at once while the test holds the order's lock, and lets
   * go only once many of them wait on it together: the race really has contenders inside the
   * database, not only in flight. Returns the answers and how many were seen waiting at once.
   */
  const race = async (
    orderId: string,
    version: number,
    commands: readonly { method: string; path: string; body?: object }[],
  ): Promise<{ answers: Answer[]; queued: number }> => {
    const holder = new pg.Client({ connectionString: env.config.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [STREAM_LOCK_CLASS, orderId]);
      const answers = Promise.all(commands.map((command) => pinned(orderId, version, command)));
      const queued = await eventually(
        async () => {
          const waiting = await waitingOnOrder(orderId);
          assert.ok(waiting >= QUEUED_AT_ONCE, `${String(waiting)} contenders wait on the order's lock`);
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

  it('lets exactly one pinned command through per version; the rest answer 412 and write nothing', async () => {
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

    const placed = await send('POST', '/orders', placeOrderBody({ customerId: 'pinned-customer' }));
    assert.equal(placed.status, 201);
    const orderId = (placed.body as { orderId?: string }).orderId ?? '';
    acknowledged.record(orderId, 1, 'OrderPlaced');

    // Round 1: fifty different lines, each pinned to version 1.
    const lines = Array.from({ length: CONTENDERS }, (_, index) => ({
      method: 'POST',
      path: '/lines',
      body: { sku: `PIN-${index}`, quantity: 1, unitPriceMinor: 100 + index },
    }));
    const { answers: first, queued: queuedFirst } = await race(orderId, 1, lines);
    // Round 2: fifty different commands of every kind that PLACED allows, each pinned to version 2.
    const kinds = [
      (index: number) => ({
        method: 'POST',
        path: '/lines',
        body: { sku: `PIN-B-${index}`, quantity: 2, unitPriceMinor: 10 },
      }),
      () => ({ method: 'DELETE', path: '/lines/BOOK-1' }),
      (index: number) => ({ method: 'POST', path: '/confirm', body: { paymentReference: `pay-${index}` } }),
      (index: number) => ({ method: 'POST', path: '/cancel', body: { reason: `contender ${index}` } }),
    ];
    const contenders = Array.from({ length: CONTENDERS }, (_, index) =>
      (kinds[index % kinds.length] ?? kinds[0]!)(index),
    );
    const { answers: second, queued: queuedSecond } = await race(orderId, 2, contenders);

    let rejected = 0;
    for (const [round, answers, sent] of [
      [1, first, lines],
      [2, second, contenders],
    ] as const) {
      const statuses = answers.map((answer) => answer.status);
      const winners = answers.filter((answer) => answer.status === 200);
      const losers = answers.filter((answer) => answer.status === 412);
      assert.equal(winners.length, 1, `round ${round}: exactly one winner, got statuses ${JSON.stringify(statuses)}`);
      assert.equal(
        losers.length,
        CONTENDERS - 1,
        `round ${round}: every other answer is 412, got ${JSON.stringify(statuses)}`,
      );
      const [winner] = winners;
      assert.deepEqual(
        { version: winner?.body.version, etag: winner?.etag },
        { version: round + 1, etag: `"${round + 1}"` },
      );
      for (const loser of losers)
        assert.deepEqual(
          { statusCode: loser.body.statusCode, code: loser.body.code },
          { statusCode: 412, code: 'VERSION_MISMATCH' },
        );
      const won = sent[answers.findIndex((answer) => answer.status === 200)];
      acknowledged.record(
        orderId,
        round + 1,
        eventTypeOfCommand(won?.method === 'DELETE' ? 'delete' : 'post', won?.path ?? ''),
      );
      rejected += losers.length;
    }
    assert.equal(await eventsOf(orderId), 3, 'the order gained exactly one event per round');

    // A stale pin after the races changes nothing either, and an unpinned command still goes through.
    assert.equal((await pinned(orderId, 1, { method: 'POST', path: '/cancel', body: { reason: 'late' } })).status, 412);
    assert.equal(await eventsOf(orderId), 3);

    await load;
    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(rejected, 2 * (CONTENDERS - 1));
    reportFigure('pinned-version', {
      contenders: lines.length + contenders.length,
      rounds: 2,
      waitingOnTheLockAtOnce: Math.min(queuedFirst, queuedSecond),
      winners: 2,
      preconditionFailed: rejected,
      eventsAdded: (await eventsOf(orderId)) - 1,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
