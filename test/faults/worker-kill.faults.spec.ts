import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { CommandApiModule } from '@app/command-api';
import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  loadUntil,
  reportFigure,
  seededRandom,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const KILLS = 10;

/**
 * Scenario 1: the projection worker dies with `kill -9` ten times, at seeded random moments, while
 * clients keep placing orders. Mid-batch or not, each restart resumes from the offsets stored with
 * the read models: nothing is lost and nothing is applied twice.
 */
describe('fault: projection worker kill -9 under load', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  const workers: AppProcess[] = [];

  before(async () => {
    env = await createTestEnvironment('worker_kill', { partitions: 6 });
    commandApi = await startTestApp(CommandApiModule, env.config);
  });

  after(async () => {
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

  it(`survives ${String(KILLS)} kills: every acknowledged command applied once, read models equal the fold`, async () => {
    const acknowledged = new AcknowledgedCommands();
    const random = seededRandom(7);
    const stop = { done: false };
    const load = loadUntil(commandApi.getHttpServer(), 42, stop, { onAcknowledged: (orderId, version, eventType) => { acknowledged.record(orderId, version, eventType); } });
    let worker = await startWorker();
    for (let kill = 1; kill <= KILLS; kill++) {
      // Let it work for a random while, then kill it without warning, mid-batch or not.
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(random() * 800)));
      await worker.stop('SIGKILL');
      worker = await startWorker();
    }
    stop.done = true;
    const placed = await load;

    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(figures.orders, placed);
    reportFigure('worker-kill', {
      kills: KILLS,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await worker.stop();
  });
});
