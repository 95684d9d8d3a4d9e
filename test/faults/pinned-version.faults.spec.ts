import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  eventTypeOfCommand,
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

  const send = async (method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await fetch(`${commandUrl}${path}`, {
      method,
      headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Answer['body'], etag: response.headers.get('etag') };
  };

  const eventsOf = async (orderId: string): Promise<number> =>
    (await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE order_id = $1', [orderId])).rows[0]?.n ?? -1;

  /** Sends every command pinned to `version` at once; returns the answers. */
  const race = (orderId: string, version: number, commands: readonly { method: string; path: string; body?: object }[]): Promise<Answer[]> =>
    Promise.all(commands.map(({ method, path, body }) => send(method, `/orders/${orderId}${path}`, body, { 'If-Match': `"${version}"` })));

  it('lets exactly one pinned command through per version; the rest answer 412 and write nothing', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const random = seededRandom(SEED);
    const load = inParallel(40, 2, async () => {
      await runRandomLifecycle(system.commandApi.getHttpServer(), seededRandom(Math.floor(random() * 2 ** 32)), undefined, {
        onAcknowledged: (orderId, version, eventType) => { acknowledged.record(orderId, version, eventType); },
      });
    });

    const placed = await send('POST', '/orders', placeOrderBody({ customerId: 'pinned-customer' }));
    assert.equal(placed.status, 201);
    const orderId = (placed.body as { orderId?: string }).orderId ?? '';
    acknowledged.record(orderId, 1, 'OrderPlaced');

    // Round 1: fifty different lines, each pinned to version 1.
    const lines = Array.from({ length: CONTENDERS }, (_, index) => ({ method: 'POST', path: '/lines', body: { sku: `PIN-${index}`, quantity: 1, unitPriceMinor: 100 + index } }));
    const first = await race(orderId, 1, lines);
    // Round 2: fifty different commands of every kind that PLACED allows, each pinned to version 2.
    const kinds = [
      (index: number) => ({ method: 'POST', path: '/lines', body: { sku: `PIN-B-${index}`, quantity: 2, unitPriceMinor: 10 } }),
      () => ({ method: 'DELETE', path: '/lines/BOOK-1' }),
      (index: number) => ({ method: 'POST', path: '/confirm', body: { paymentReference: `pay-${index}` } }),
      (index: number) => ({ method: 'POST', path: '/cancel', body: { reason: `contender ${index}` } }),
    ];
    const contenders = Array.from({ length: CONTENDERS }, (_, index) => (kinds[index % kinds.length] ?? kinds[0]!)(index));
    const second = await race(orderId, 2, contenders);

    let rejected = 0;
    for (const [round, answers, sent] of [[1, first, lines], [2, second, contenders]] as const) {
      const statuses = answers.map((answer) => answer.status);
      const winners = answers.filter((answer) => answer.status === 200);
      const losers = answers.filter((answer) => answer.status === 412);
      assert.equal(winners.length, 1, `round ${round}: exactly one winner, got statuses ${JSON.stringify(statuses)}`);
      assert.equal(losers.length, CONTENDERS - 1, `round ${round}: every other answer is 412, got ${JSON.stringify(statuses)}`);
      const [winner] = winners;
      assert.deepEqual({ version: winner?.body.version, etag: winner?.etag }, { version: round + 1, etag: `"${round + 1}"` });
      for (const loser of losers) assert.deepEqual({ statusCode: loser.body.statusCode, code: loser.body.code }, { statusCode: 412, code: 'VERSION_MISMATCH' });
      const won = sent[answers.findIndex((answer) => answer.status === 200)];
      acknowledged.record(orderId, round + 1, eventTypeOfCommand(won?.method === 'DELETE' ? 'delete' : 'post', won?.path ?? ''));
      rejected += losers.length;
    }
    assert.equal(await eventsOf(orderId), 3, 'the order gained exactly one event per round');

    // A stale pin after the races changes nothing either, and an unpinned command still goes through.
    assert.equal((await race(orderId, 1, [{ method: 'POST', path: '/cancel', body: { reason: 'late' } }]))[0]?.status, 412);
    assert.equal(await eventsOf(orderId), 3);

    await load;
    const figures = await assertGuarantees(env, acknowledged);
    reportFigure('pinned-version', {
      contenders: CONTENDERS * 2,
      rounds: 2,
      winners: 2,
      preconditionFailed: rejected,
      eventsAdded: 2,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
