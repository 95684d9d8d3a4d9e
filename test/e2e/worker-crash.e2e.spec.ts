import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';

import { CommandApiModule } from '@app/command-api';
import {
  AppProcess,
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  loadUntil,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

describe('projection workers as real processes', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  const workers: AppProcess[] = [];

  // Each scenario gets its own database and topic. kill -9 is a fault scenario: test/faults/worker-kill.faults.spec.ts.
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

  it('splits partitions between two workers and applies nothing twice through rebalances mid-load', async () => {
    const [first, second] = [await startWorker(), await startWorker()];
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const group = `${env.config.kafka.groupPrefix}projection.order-view`;
      await eventually(
        async () => {
          const { groups } = await admin.describeGroups([group]);
          const members = groups[0]?.members ?? [];
          assert.equal(members.length, 2, 'both workers are members of each projection group');
          assert.ok(
            members.every((member) => member.memberAssignment.length > 0),
            'each member has partitions',
          );
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );

      const stop = { done: false };
      const load = loadUntil(commandApi.getHttpServer(), 43, stop);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const third = await startWorker(); // a member joins: rebalance
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await first.stop('SIGTERM'); // a member leaves: rebalance
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      stop.done = true;
      await load;

      const { orders, events } = await eventually(() => assertReadModelsEqualFold(env), {
        timeoutMs: 90_000,
        intervalMs: 500,
      });
      console.log(
        `FIGURE worker-rebalance: 2 workers, +1 joined, 1 left, ${orders} orders, ${events} events; applied twice: 0`,
      );
      await Promise.all([second.stop(), third.stop()]);
    } finally {
      await admin.disconnect();
    }
  });
});
