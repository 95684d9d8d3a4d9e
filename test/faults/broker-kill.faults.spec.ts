import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import {
  AcknowledgedCommands,
  AppProcess,
  PrivateBroker,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  reportFigure,
  seededRandom,
  type TestEnvironment,
} from '@app/testing';

const KILLS = 3;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The broker is killed (`kill -9`) and restarted three times while clients place and manage orders.
 * The command API (with its outbox relay) and the projection worker run as real processes and are
 * never restarted: the relay must publish again and the consumers must rejoin by themselves.
 * The broker is a private one on a free port, never the shared broker on 9092.
 */
describe('Kafka broker kill -9 and restart under load', () => {
  let broker: PrivateBroker | undefined;
  let env: TestEnvironment | undefined;
  const processes: AppProcess[] = [];

  after(async () => {
    await Promise.all(processes.map((app) => app.stop('SIGKILL')));
    await env?.dispose().catch((error: unknown) => {
      console.error(`dispose failed: ${String(error)}`);
    });
    await broker?.destroy();
  });

  it('the relay and the consumers recover without a restart: nothing lost, nothing applied twice', async () => {
    broker = await PrivateBroker.start();
    env = await createTestEnvironment('broker_kill', { partitions: 3, kafkaBrokers: [broker.address] });
    const { db, readDb } = env;
    const commandApi = new AppProcess('command-api', env.config);
    const worker = new AppProcess('projection-worker', env.config);
    processes.push(commandApi, worker);
    const exits: string[] = [];
    void commandApi.exited.then((code) => exits.push(`command-api exited (${code})`));
    void worker.exited.then((code) => exits.push(`projection-worker exited (${code})`));
    await Promise.all([commandApi.ready, worker.ready]);

    const acknowledged = new AcknowledgedCommands();
    const stop = { done: false };
    // Commands keep succeeding while Kafka is down; retries with the key only cover a slow answer.
    const load = loadUntil(commandApi.url, 404, stop, {
      max: 1_000_000,
      retryForMs: 60_000,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    load.catch(() => {
      stop.done = true;
    }); // a failed command fails the test at `await load`, not as an unhandled rejection

    const schedule = seededRandom(4);
    const recoverySeconds: number[] = [];
    let acknowledgedWhileDown = 0;
    try {
      for (let kill = 1; kill <= KILLS; kill++) {
        await pause(1_000 + Math.floor(schedule() * 2_000)); // a seeded moment under load
        await broker.kill();
        // Commands keep succeeding while Kafka is down: the outbox holds their events.
        const atKill = acknowledged.size;
        await eventually(
          () => {
            assert.ok(
              acknowledged.size >= atKill + 5,
              `commands acknowledged with the broker down: ${acknowledged.size - atKill}`,
            );
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        await pause(Math.floor(schedule() * 1_500)); // down a seeded while longer
        acknowledgedWhileDown += acknowledged.size - atKill;
        // The kill cut the relay off: what was acknowledged meanwhile waits in the outbox, unpublished.
        // Of the 5 or more acknowledged since, each client's first may have committed, and been
        // published, just before the kill: at least 5 - 2 clients were written after it.
        const { rows: pending } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
        assert.ok(
          (pending[0]?.n ?? 0) >= 3,
          `events held in the outbox while the broker is down: ${String(pending[0]?.n)}`,
        );
        await broker.restart();
        const restartedAt = performance.now();

        // Recovered: a command acknowledged after the restart went through the relay, the broker
        // and the worker into the read model, with no process restarted.
        const atRestart = acknowledged.size;
        await eventually(
          () => {
            assert.ok(acknowledged.size > atRestart, 'a command acknowledged after the restart');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        const probe = acknowledged.last;
        assert.ok(probe);
        await eventually(
          async () => {
            const { rows } = await readDb.query<{ version: number }>(
              'SELECT version FROM order_view WHERE order_id = $1',
              [probe.orderId],
            );
            assert.ok(
              (rows[0]?.version ?? 0) >= probe.version,
              `order ${probe.orderId} at version ${probe.version} in the read model after restart ${kill}`,
            );
          },
          { timeoutMs: 120_000, intervalMs: 100 },
        );
        recoverySeconds.push((performance.now() - restartedAt) / 1_000);
      }
    } finally {
      stop.done = true;
      await load;
    }

    assert.deepEqual(exits, [], 'no process exited: nothing needed a manual restart');
    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    assert.deepEqual(exits, [], 'no process exited while the oracle ran');
    assert.ok(
      acknowledgedWhileDown >= 5 * KILLS,
      `commands acknowledged with the broker down: ${String(acknowledgedWhileDown)}`,
    );
    // At-least-once: a kill can cut off the relay's batch in flight after the broker wrote it, and the
    // relay sends that batch again; a send that times out after the restart, written all the same, is
    // sent again by a new producer (the relay replaces it after a failure), so two batches per kill at
    // most. Nothing else is ever sent twice (the oracle checks each extra record re-sends a stored
    // event, never ahead of its order's earlier ones).
    const duplicateBound = 2 * KILLS * env.config.relay.batchSize;
    assert.ok(
      figures.duplicatesOnTopic <= duplicateBound,
      `${String(figures.duplicatesOnTopic)} duplicates on the topic; at most two relay batches per kill (${String(duplicateBound)})`,
    );
    reportFigure('broker-kill', {
      kills: KILLS,
      acknowledged: figures.acknowledged,
      acknowledgedWhileDown,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      duplicatesOnTopic: figures.duplicatesOnTopic,
      readModelsEqualToFold: true,
      recoveredIn: `${Math.max(...recoverySeconds).toFixed(1)} s`,
    });
    await Promise.all(processes.map((app) => app.stop('SIGTERM')));
  });
});
