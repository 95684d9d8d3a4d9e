import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { CommandApiModule } from '@app/command-api';
import { projections } from '@app/projections';
import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  eventually,
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

  /** Per projection, the sum of its stored offsets: how far it has applied the log. */
  const appliedUpTo = async (): Promise<Map<string, number>> => {
    const { rows } = await env.readDb.query<{ projection: string; applied: string }>(
      'SELECT projection, sum(next_offset)::text AS applied FROM projection_offsets WHERE topic = $1 GROUP BY projection',
      [env.config.kafka.ordersTopic],
    );
    return new Map(rows.map((row) => [row.projection, Number(row.applied)]));
  };
  /** Records in the log that some projection has not applied yet, summed over projections. */
  const lagBehind = async (): Promise<number> => {
    const admin = env.kafka.admin();
    await admin.connect();
    const logEnd = (
      await admin.fetchTopicOffsets(env.config.kafka.ordersTopic).finally(() => admin.disconnect())
    ).reduce((sum, partition) => sum + Number(partition.high), 0);
    let lag = 0;
    for (const applied of (await appliedUpTo()).values()) lag += logEnd - applied;
    return lag;
  };
  /** The worker's own count of events it applied, from its /metrics: what this process did, not a predecessor. */
  const appliedByProcess = async (worker: AppProcess): Promise<number> => {
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('projection_events_applied_total{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  };
  /** Waits until every projection has stored offsets past `from` and the worker's own counter shows it applied events. */
  const hasApplied = (worker: AppProcess, from: ReadonlyMap<string, number>, kill: number): Promise<void> =>
    eventually(
      async () => {
        const now = await appliedUpTo();
        for (const { name } of projections)
          assert.ok(
            (now.get(name) ?? 0) > (from.get(name) ?? 0),
            `${name} moved on under worker ${String(kill)} before its kill`,
          );
        assert.ok((await appliedByProcess(worker)) > 0, `worker ${String(kill)} applied events itself before its kill`);
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );

  it(`survives ${String(KILLS)} kills: every acknowledged command applied once, read models equal the fold`, async () => {
    const acknowledged = new AcknowledgedCommands();
    const random = seededRandom(7);
    const stop = { done: false };
    const load = loadUntil(commandApi.getHttpServer(), 42, stop, {
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    let worker = await startWorker();
    let killsAfterApplying = 0;
    let lagLeftAtKills = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      // Each victim has applied records of its own; then a seeded while under load, and a kill without warning, mid-batch or not.
      await hasApplied(worker, await appliedUpTo(), kill);
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(random() * 800))); // a seeded moment under load
      await worker.stop('SIGKILL');
      killsAfterApplying++;
      lagLeftAtKills += await lagBehind();
      worker = await startWorker();
    }
    stop.done = true;
    const placed = await load;
    // The kills landed under load: the next worker found records its predecessor had not applied.
    assert.ok(lagLeftAtKills > 0, 'the kills left records behind for the next worker');

    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(figures.orders, placed);
    assert.equal(figures.acknowledged, acknowledged.size);
    assert.ok(figures.acknowledged > KILLS, 'commands were acknowledged throughout the kills');
    reportFigure('worker-kill', {
      kills: killsAfterApplying,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      lagLeftAtKills,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await worker.stop();
  });
});
