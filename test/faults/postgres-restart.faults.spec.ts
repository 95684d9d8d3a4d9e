import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import {
  AcknowledgedCommands,
  AppProcess,
  PrivatePostgres,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  reportFigure,
  seededRandom,
  type TestEnvironment,
} from '@app/testing';

const RESTARTS = 3;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Postgres is stopped with `pg_ctl -m immediate` (every backend killed, crash recovery on start)
 * while clients place and manage orders, then started again on the same port. The command API, the
 * projection worker and the query API run as real processes and are never restarted. Clients retry
 * every command whose answer was lost with its Idempotency-Key; each must land exactly once.
 * The cluster is a private one on a free port, never the shared server on 5432.
 */
describe('Postgres immediate shutdown and restart under load', () => {
  let cluster: PrivatePostgres | undefined;
  let env: TestEnvironment | undefined;
  const processes: AppProcess[] = [];

  after(async () => {
    await Promise.all(processes.map((app) => app.stop('SIGKILL')));
    await env?.dispose().catch((error: unknown) => {
      console.error(`dispose failed: ${String(error)}`);
    });
    await cluster?.destroy();
  });

  it('every process reconnects unaided; retried commands land once', async () => {
    cluster = await PrivatePostgres.start();
    env = await createTestEnvironment('pg_restart', { partitions: 3, databaseServerUrl: cluster.url });
    const db = env.db;
    const apps = {
      'command-api': new AppProcess('command-api', env.config),
      'projection-worker': new AppProcess('projection-worker', env.config),
      'query-api': new AppProcess('query-api', env.config),
    };
    processes.push(...Object.values(apps));
    const exits: string[] = [];
    for (const [name, app] of Object.entries(apps))
      void app.exited.then((code) => exits.push(`${name} exited (${code})`));
    await Promise.all(processes.map((app) => app.ready));
    const [commandUrl, workerUrl, queryUrl] = [
      apps['command-api'].url,
      apps['projection-worker'].url,
      apps['query-api'].url,
    ];

    const acknowledged = new AcknowledgedCommands();
    /** Per order, how many commands the clients were told succeeded: each must have appended exactly one event. */
    const commandsPerOrder = new Map<string, number>();
    const answers = { retried: 0, timedOut: 0, replayed: 0 };
    // One first attempt in ten is given up on after 1 to 30 ms, landed or not, as an impatient client would.
    const impatience = seededRandom(66);
    const stop = { done: false };
    const load = loadUntil(commandUrl, 606, stop, {
      clients: 3,
      pauseMs: 20,
      max: 1_000_000,
      retryForMs: 120_000,
      attemptTimeoutMs: (attempt) => (attempt === 1 && impatience() < 0.1 ? 1 + Math.floor(impatience() * 30) : 5_000),
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
        commandsPerOrder.set(orderId, (commandsPerOrder.get(orderId) ?? 0) + 1);
      },
      onRetry: (error) => {
        answers.retried++;
        if ((error as { timeout?: unknown }).timeout !== undefined) answers.timedOut++;
      },
      onReplayed: () => {
        answers.replayed++;
      },
    });
    load.catch(() => {
      stop.done = true;
    }); // a failed command fails the test at `await load`, not as an unhandled rejection

    const schedule = seededRandom(6);
    try {
      for (let restart = 1; restart <= RESTARTS; restart++) {
        const before = acknowledged.size;
        await pause(1_500 + Math.floor(schedule() * 2_000)); // a seeded moment under load
        assert.ok(acknowledged.size > before, 'commands are flowing when Postgres goes down');
        const retriedAtCrash = answers.retried;
        await cluster.crash();
        await pause(500 + Math.floor(schedule() * 1_500)); // down a seeded while: commands fail and are retried
        await cluster.startServer();
        // The crash cut commands off: their clients sent them again.
        await eventually(
          () => {
            assert.ok(
              answers.retried > retriedAtCrash,
              `commands failed across restart ${restart} and were sent again`,
            );
          },
          { timeoutMs: 60_000, intervalMs: 100 },
        );

        // Every process finds the database again by itself.
        const atRestart = acknowledged.size;
        await eventually(
          () => {
            assert.ok(acknowledged.size > atRestart + 5, `commands acknowledged after restart ${restart}`);
          },
          { timeoutMs: 90_000, intervalMs: 100 },
        );
        for (const url of [commandUrl, workerUrl, queryUrl]) {
          await eventually(
            async () => {
              const response = await fetch(`${url}/health/ready`);
              assert.equal(
                response.status,
                200,
                `${url}/health/ready after restart ${restart}: ${await response.text()}`,
              );
            },
            { timeoutMs: 60_000, intervalMs: 200 },
          );
        }
      }
    } finally {
      stop.done = true;
      await load;
    }

    // Read-your-writes through the query API for the last orders: the worker and the query API are back.
    for (const [orderId, commands] of [...commandsPerOrder].slice(-5)) {
      await eventually(
        async () => {
          const response = await fetch(`${queryUrl}/orders/${orderId}?minVersion=${commands}`);
          assert.equal(response.status, 200, `GET /orders/${orderId}?minVersion=${commands}: ${await response.text()}`);
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    }
    assert.deepEqual(exits, [], 'no process exited: each reconnected unaided');
    assert.ok(answers.retried > 0, 'commands failed or timed out, and their retries were answered');
    assert.ok(answers.timedOut > 0, 'some attempts timed out');
    assert.ok(answers.replayed > 0, 'some retries found their first attempt landed and got its answer back');

    // Landed once: the oracle holds every order's stored events to its acknowledged commands, one
    // for one, and an order no client was told of would be a placement that landed twice.
    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    const { rows } = await db.query<{ order_id: string }>('SELECT DISTINCT order_id::text FROM events');
    const strayOrders = rows.filter((row) => !commandsPerOrder.has(row.order_id)).length;
    assert.equal(strayOrders, 0, 'one order per placed lifecycle: no placement landed twice');
    const duplicates = figures.unacknowledged + strayOrders;
    assert.deepEqual(exits, [], 'no process exited while the oracle ran');

    reportFigure('postgres-restart', {
      restarts: RESTARTS,
      acknowledged: figures.acknowledged,
      retried: answers.retried,
      timedOut: answers.timedOut,
      replayed: answers.replayed,
      lost: figures.lost,
      duplicates,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await Promise.all(processes.map((app) => app.stop('SIGTERM')));
  });
});
