import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';

import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  loadUntil,
  reportFigure,
  seededRandom,
  type TestEnvironment,
} from '@app/testing';

const KILLS = 3;

/** A port nothing listens on now, for a process that must come back on the same address. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

/**
 * Scenario 7: the command API dies with `kill -9` under load, three times. Clients send every command
 * with an Idempotency-Key and send it again, with the same key, until the restarted process answers.
 * A command that committed before the crash answers the retry from its recorded response; one that
 * did not is decided afresh. Either way it lands once: no duplicate order, no event twice.
 */
describe('fault: command API kill -9 under load, clients retrying with idempotency keys', () => {
  let env: TestEnvironment;
  const processes: AppProcess[] = [];

  before(async () => {
    env = await createTestEnvironment('command_api_kill', { partitions: 3 });
  });

  after(async () => {
    await Promise.all(processes.splice(0).map((app) => app.stop('SIGKILL')));
    await env.dispose();
  });

  it(`survives ${String(KILLS)} kills: every acknowledged command once, one order per placement`, async () => {
    const port = await freePort();
    const start = async (app: 'command-api' | 'projection-worker'): Promise<AppProcess> => {
      const started = new AppProcess(app, env.config, undefined, app === 'command-api' ? { COMMAND_API_PORT: String(port) } : {});
      processes.push(started);
      await started.ready;
      return started;
    };
    await start('projection-worker');
    let commandApi = await start('command-api');

    const acknowledged = new AcknowledgedCommands();
    let retries = 0;
    const stop = { done: false };
    const load = loadUntil(`http://127.0.0.1:${String(port)}`, 77, stop, {
      clients: 4,
      pauseMs: 20,
      retryForMs: 60_000,
      onAcknowledged: (orderId, version) => { acknowledged.record(orderId, version); },
      onRetry: () => { retries++; },
    });
    const random = seededRandom(13);
    for (let kill = 1; kill <= KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.floor(random() * 2_000)));
      await commandApi.stop('SIGKILL');
      commandApi = await start('command-api');
    }
    // Let the clients finish what the last crash interrupted, and a little more.
    const before = acknowledged.size;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stop.done = true;
    const placements = await load;
    assert.ok(acknowledged.size > before, 'commands succeed after the last restart');

    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    const { rows } = await env.db.query<{ orders: number }>("SELECT count(DISTINCT order_id)::int AS orders FROM events WHERE type = 'OrderPlaced'");
    const ordersStored = rows[0]?.orders ?? 0;
    assert.equal(ordersStored, placements, 'one order per logical placement, however often it was sent');
    assert.equal(figures.orders, placements);
    assert.ok(retries > 0, 'some commands were in flight or refused during a crash and were sent again');
    reportFigure('command-api-kill', {
      kills: KILLS,
      placements,
      ordersStored,
      retries,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      duplicateOrders: ordersStored - placements,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await commandApi.stop();
  });
});
