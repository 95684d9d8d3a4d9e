import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { CommandApiModule } from '@app/command-api';
import {
  AppProcess,
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  runRandomLifecycle,
  seededRandom,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

/**
 * Places orders with random lifecycles, about 40 a second, until `stop` is set or `max` are placed.
 * The pace keeps the log small enough for the catch-up after the faults to take seconds.
 */
async function loadUntil(commandApi: TestApp, seed: number, stop: { done: boolean }, max = 2_000): Promise<number> {
  const random = seededRandom(seed);
  let placed = 0;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (!stop.done && placed < max) {
        placed++;
        await runRandomLifecycle(commandApi.getHttpServer(), seededRandom(Math.floor(random() * 2 ** 32)));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }),
  );
  return placed;
}

describe('projection workers as real processes', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  const workers: AppProcess[] = [];

  // Each scenario gets its own database and topic, so the second does not replay the first's log.
  beforeEach(async () => {
    env = await createTestEnvironment('worker_crash', { partitions: 6 });
    commandApi = await startTestApp(CommandApiModule, env.config);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
    await commandApi.close();
    await env.dispose();
  });

  const startWorker = async (): Promise<AppProcess> => {
    const worker = new AppProcess('projection-worker', env.config);
    workers.push(worker);
    await worker.ready;
    return worker;
  };

  it('survives kill -9 ten times under load: read models equal the fold, nothing applied twice', async () => {
    const random = seededRandom(7);
    const stop = { done: false };
    const load = loadUntil(commandApi, 42, stop);
    let worker = await startWorker();
    for (let kill = 1; kill <= 10; kill++) {
      // Let it work for a random while, then kill it without warning, mid-batch or not.
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(random() * 800)));
      await worker.stop('SIGKILL');
      worker = await startWorker();
    }
    stop.done = true;
    const placed = await load;

    const { orders, events } = await eventually(() => assertReadModelsEqualFold(env.db), { timeoutMs: 90_000, intervalMs: 500 });
    assert.equal(orders, placed);
    console.log(`FIGURE worker-kill: 10 kills, ${orders} orders, ${events} events; read models equal the fold; applied twice: 0`);
    await worker.stop();
  });

  it('splits partitions between two workers and applies nothing twice through rebalances mid-load', async () => {
    const [first, second] = [await startWorker(), await startWorker()];
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const group = `${env.config.kafka.groupPrefix}projection.order-view`;
      await eventually(async () => {
        const { groups } = await admin.describeGroups([group]);
        const members = groups[0]?.members ?? [];
        assert.equal(members.length, 2, 'both workers are members of each projection group');
        assert.ok(members.every((member) => member.memberAssignment.length > 0), 'each member has partitions');
      }, { timeoutMs: 30_000, intervalMs: 200 });

      const stop = { done: false };
      const load = loadUntil(commandApi, 43, stop);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const third = await startWorker(); // a member joins: rebalance
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await first.stop('SIGTERM'); // a member leaves: rebalance
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      stop.done = true;
      await load;

      const { orders, events } = await eventually(() => assertReadModelsEqualFold(env.db), { timeoutMs: 90_000, intervalMs: 500 });
      console.log(`FIGURE worker-rebalance: 2 workers, +1 joined, 1 left, ${orders} orders, ${events} events; applied twice: 0`);
      await Promise.all([second.stop(), third.stop()]);
    } finally {
      await admin.disconnect();
    }
  });
});
