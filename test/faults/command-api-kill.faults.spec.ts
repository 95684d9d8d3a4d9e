import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  freePorts,
  loadUntil,
  placeOrderBody,
  reportFigure,
  sendCommand,
  seededRandom,
  type TestEnvironment,
} from '@app/testing';

const KILLS = 3;

/**
 * Scenario 7: the command API dies with `kill -9` under load, three times: once aimed at a command
 * that has appended its event and not yet committed, then at seeded random moments. Clients send every command
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
    const port = await freePorts(1); // outside the ephemeral range: the restarts find it free
    const start = async (app: 'command-api' | 'projection-worker'): Promise<AppProcess> => {
      const started = new AppProcess(
        app,
        env.config,
        undefined,
        app === 'command-api' ? { COMMAND_API_PORT: String(port) } : {},
      );
      processes.push(started);
      await started.ready.catch((error: unknown) => {
        throw new Error(`${String(error)}; its last lines:\n${started.log.slice(-15).join('\n')}`);
      });
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
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
      onRetry: () => {
        retries++;
      },
    });
    const url = `http://127.0.0.1:${String(port)}`;
    /** Kills the command API under load; the clients' commands it cut off are sent again. */
    const restart = async (kill: number): Promise<void> => {
      const retriesBefore = retries;
      await commandApi.stop('SIGKILL');
      commandApi = await start('command-api');
      await eventually(
        () => {
          assert.ok(
            retries > retriesBefore,
            `kill ${String(kill)} cut off commands of the load, which were sent again`,
          );
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
    };

    // Kill 1, aimed: a command has appended its event and waits, uncommitted, on the test's row with
    // its idempotency key (the command records its key last). The crash must roll it back; its
    // retry, same key, must land once.
    const placed = await sendCommand(url, 'post', '/orders', placeOrderBody(), { retryForMs: 60_000 });
    assert.equal(placed.status, 201, placed.text);
    const aimed = (placed.body as { orderId: string }).orderId;
    acknowledged.record(aimed, 1, 'OrderPlaced');
    const key = randomUUID();
    const blocker = new pg.Client({ connectionString: env.config.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(
      `INSERT INTO idempotency_keys (key, fingerprint, response_status, response_body, response_headers, expires_at)
       VALUES ($1, 'held by the test', 200, '{}', '{}', now() + interval '1 hour')`,
      [key],
    );
    let aimedRetries = 0;
    const inFlight = sendCommand(
      url,
      'post',
      `/orders/${aimed}/lines`,
      { sku: 'IN-FLIGHT', quantity: 1, unitPriceMinor: 100 },
      {
        retryForMs: 60_000,
        idempotencyKey: key,
        onRetry: () => {
          aimedRetries++;
        },
      },
    );
    await eventually(
      async () => {
        const { rows } = await env.db.query<{ appended: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = 'events'::regclass AND l.mode = 'RowExclusiveLock') AS appended
           FROM pg_stat_activity a
          WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.query LIKE 'INSERT INTO idempotency_keys%'`,
        );
        assert.equal(rows[0]?.appended, true, 'the command has appended and waits before its commit');
      },
      { timeoutMs: 15_000 },
    );
    await restart(1);
    await blocker.query('ROLLBACK');
    await blocker.end();
    const answer = await inFlight;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(
      (answer.body as { version: number }).version,
      2,
      'the retried command landed once, on top of version 1',
    );
    assert.ok(aimedRetries > 0, 'the aimed command lost its answer to the crash and was sent again');
    acknowledged.record(aimed, 2, 'OrderLineAdded');

    const random = seededRandom(13);
    for (let kill = 2; kill <= KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.floor(random() * 2_000))); // a seeded moment under load
      await restart(kill);
    }
    // Commands succeed again after the last restart; then the clients finish what is in flight.
    const before = acknowledged.size;
    await eventually(
      () => {
        assert.ok(acknowledged.size > before, 'commands succeed after the last restart');
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    stop.done = true;
    const placements = await load;

    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
    const { rows } = await env.db.query<{ orders: number }>(
      "SELECT count(DISTINCT order_id)::int AS orders FROM events WHERE type = 'OrderPlaced'",
    );
    const ordersStored = rows[0]?.orders ?? 0;
    assert.equal(ordersStored, placements + 1, 'one order per logical placement, however often it was sent');
    assert.equal(figures.orders, placements + 1);
    assert.ok(retries > 0, 'some commands were in flight or refused during a crash and were sent again');
    reportFigure('command-api-kill', {
      kills: KILLS,
      placements: placements + 1,
      ordersStored,
      retries,
      aimedAtAnUncommittedAppend: 1,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      duplicateOrders: ordersStored - placements - 1,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await commandApi.stop();
  });
});
