import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import request from 'supertest';

import { CommandApiModule } from '@app/command-api';
import { captureConnectorConfig, captureSlotLagBytes, dropCaptureSlot } from '@app/event-store';
import {
  AcknowledgedCommands,
  AppProcess,
  PrivateBroker,
  PrivateConnect,
  PrivatePostgres,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  inParallel,
  loadUntil,
  placeOrderBody,
  readTopic,
  readTopicToEnd,
  repositoryRoot,
  reportFigure,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  startTestApp,
  type ReadRecord,
  type RunningSystem,
  type TestEnvironment,
  type TestServer,
} from '@app/testing';

/**
 * Issue 19, item 4: the fault suite's oracle (assertGuarantees: nothing lost, nothing applied twice,
 * read models equal to a fold of the store) with Debezium's connector on Kafka Connect as the
 * outbox relay (OUTBOX_RELAY=debezium). Each scenario prints a `FIGURE debezium-<name>:` line.
 *
 * One logical-WAL Postgres of the file's own (the shared server's WAL cannot be decoded) and one
 * Connect worker on the shared broker serve every scenario but the one that kills Kafka, which
 * brings its own broker and worker. Each scenario has its own test environment: database, topic,
 * replication slot and connector.
 */

/** Connect's default offset.flush.timeout.ms: how long a flush may wait for the producer before it gives up. */
const OFFSET_FLUSH_TIMEOUT_MS = 5_000;

const PG_RESTARTS = 2;

/** Lifecycles of other orders that commit while an append is held, each time. */
const GAP_LATER_LIFECYCLES = 10;

/** The busy writer's statement: rows of about 100 bytes each. */
const BUSY_ROWS_PER_STATEMENT = 500;
/** Positions the slot must confirm, one after another, while only the scratch table is written. */
const IDLE_ROUNDS = 3;
/** A round's deadline: far above the 10 s of heartbeats and of the driver's status updates, so a round never fails for being slow. */
const IDLE_ROUND_TIMEOUT_MS = 90_000;

/** Lifecycles per batch: before the teardown, between it and registering again, after. */
const TEARDOWN_LIFECYCLES = 6;

const versionOf = (record: ReadRecord): number => (JSON.parse(record.value ?? '{}') as { version: number }).version;

/** The worker's offset.flush.interval.ms, from the template every worker is rendered from. */
function offsetFlushIntervalMs(): number {
  const template = readFileSync(join(repositoryRoot(), 'scripts', 'connect', 'worker.properties.template'), 'utf8');
  const value = /^offset\.flush\.interval\.ms=(\d+)$/m.exec(template)?.[1];
  assert.ok(value, 'the worker template sets offset.flush.interval.ms');
  return Number(value);
}

function sharedBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
}

/** Registers the environment's connector again, as it was (a standalone worker forgets connectors when it stops). */
async function registerAgain(connect: PrivateConnect, env: TestEnvironment): Promise<void> {
  const name = env.captureConnector;
  assert.ok(name, 'the environment has a capture connector');
  await connect.register(
    name,
    captureConnectorConfig({
      databaseUrl: env.config.databaseUrl,
      topic: env.config.kafka.ordersTopic,
      slotName: env.config.relay.captureSlot,
      connectorName: name,
    }),
  );
  await connect.waitRunning(name, 120_000);
}

/** Whether a replication slot of that name exists, and whether a walsender reads it. */
async function slotState(env: TestEnvironment): Promise<{ exists: boolean; active: boolean }> {
  const { rows } = await env.db.query<{ active: boolean }>(
    'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
    [env.config.relay.captureSlot],
  );
  return { exists: rows.length > 0, active: rows[0]?.active ?? false };
}

/** Waits until the latest acknowledged command is in the read model: the whole pipeline carries commands. */
async function probeReachesReadModel(env: TestEnvironment, acknowledged: AcknowledgedCommands): Promise<void> {
  const probe = acknowledged.last;
  assert.ok(probe, 'a command was acknowledged');
  await eventually(
    async () => {
      const { rows } = await env.readDb.query<{ version: number }>(
        'SELECT version FROM order_view WHERE order_id = $1',
        [probe.orderId],
      );
      assert.ok(
        (rows[0]?.version ?? 0) >= probe.version,
        `order ${probe.orderId} at version ${String(probe.version)} in the read model`,
      );
    },
    { timeoutMs: 120_000, intervalMs: 100 },
  );
}

/** Each event id on the topic with the records that carry it, in partition and offset order. */
async function recordsByEvent(env: TestEnvironment): Promise<Map<string, ReadRecord[]>> {
  const { records } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
  const byEvent = new Map<string, ReadRecord[]>();
  for (const record of records) {
    const id = record.headers['event-id'] ?? '';
    byEvent.set(id, [...(byEvent.get(id) ?? []), record]);
  }
  return byEvent;
}

describe('Debezium as the outbox relay, under faults', () => {
  let postgres: PrivatePostgres;
  let connect: PrivateConnect;

  before(async () => {
    postgres = await PrivatePostgres.start({ logical: true });
    connect = await PrivateConnect.start({ brokers: sharedBrokers() });
  });

  after(async () => {
    try {
      await connect.destroy();
    } finally {
      await postgres.destroy();
    }
  });

  /**
   * Scenario 1: the Connect worker is killed (`kill -9`) while clients place and manage orders.
   * Commands only write Postgres, so they keep succeeding; the slot holds their events until the
   * worker is back. What the killed worker published after its last offset flush goes out again.
   */
  describe('Connect worker kill -9 under load', () => {
    let env: TestEnvironment | undefined;
    let system: RunningSystem | undefined;

    after(async () => {
      await system?.close();
      await env?.dispose();
    });

    it('commands keep committing; the restarted connector re-sends one contiguous tail, nothing is lost', async () => {
      env = await createTestEnvironment('dbz_connect_kill', {
        partitions: 3,
        databaseServerUrl: postgres.url,
        capture: connect,
      });
      system = await startSystem(env.config);
      const acknowledged = new AcknowledgedCommands();
      const stop = { done: false };
      const load = loadUntil(system.commandApi.getHttpServer(), 1901, stop, {
        max: 1_000_000,
        onAcknowledged: (orderId, version, eventType) => {
          acknowledged.record(orderId, version, eventType);
        },
      });
      load.catch(() => {
        stop.done = true;
      }); // a failed command fails the test at `await load`

      const measured = { killedAt: 0, acknowledgedWhileDown: 0 };
      try {
        // The connector publishes under load: commands reach the read model through it.
        await eventually(
          () => {
            assert.ok(acknowledged.size >= 40, 'commands are flowing');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        await probeReachesReadModel(env, acknowledged);

        measured.killedAt = Date.now();
        await connect.kill();
        const atKill = acknowledged.size;
        // Nothing reads the slot now, and commands still commit: they only need Postgres.
        await eventually(
          async () => {
            assert.equal((await slotState(env!)).active, false, 'the slot is idle');
          },
          {
            timeoutMs: 30_000,
            intervalMs: 50,
          },
        );
        await eventually(
          () => {
            assert.ok(acknowledged.size >= atKill + 30, 'commands acknowledged with the worker down');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        measured.acknowledgedWhileDown = acknowledged.size - atKill;

        await connect.restart();
        await registerAgain(connect, env);
        const atRestart = acknowledged.size;
        await eventually(
          () => {
            assert.ok(acknowledged.size > atRestart + 10, 'commands acknowledged after the restart');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        await probeReachesReadModel(env, acknowledged);
      } finally {
        stop.done = true;
        await load;
      }

      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      const byEvent = await recordsByEvent(env);
      const twice = [...byEvent].filter(([, records]) => records.length > 1);
      assert.deepEqual(
        twice.filter(([, records]) => records.length > 2).map(([id]) => id),
        [],
        'no event was published more than twice',
      );
      assert.equal(figures.duplicatesOnTopic, twice.length);

      // The restarted connector resumed at the position its last offset flush recorded: on each
      // partition, the re-sent records repeat one contiguous tail of what the killed worker had
      // published, in the same order, with nothing skipped in between.
      const { records } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
      for (const partition of new Set(records.map((record) => record.partition))) {
        const ids = records.filter((record) => record.partition === partition).map((r) => r.headers['event-id'] ?? '');
        const replayStart = ids.findIndex((id, index) => ids.indexOf(id) < index);
        if (replayStart < 0) continue;
        const tailStart = ids.indexOf(ids[replayStart] ?? '');
        const tail = ids.slice(tailStart, replayStart);
        assert.deepEqual(
          ids.slice(replayStart, replayStart + tail.length),
          tail,
          `partition ${String(partition)}: the re-sent records are the killed worker's last ones, in order`,
        );
        assert.ok(
          ids.slice(replayStart + tail.length).every((id) => ids.indexOf(id) >= replayStart),
          `partition ${String(partition)}: after the re-sent tail, only new events`,
        );
      }

      // Bound: the killed worker's offsets were flushed every offset.flush.interval.ms, and a flush
      // waits at most offset.flush.timeout.ms for the producer: only events committed that long
      // before the kill can be re-sent. occurredAt is taken before commit, so it is earlier still.
      const flushIntervalMs = offsetFlushIntervalMs();
      const resentSince = Math.min(
        ...twice.map(([, copies]) =>
          Date.parse((JSON.parse(copies[0]?.value ?? '{}') as { occurredAt: string }).occurredAt),
        ),
      );
      const resentWindowMs = twice.length === 0 ? 0 : measured.killedAt - resentSince;
      assert.ok(
        resentWindowMs <= flushIntervalMs + OFFSET_FLUSH_TIMEOUT_MS,
        `the re-sent events were decided ${String(resentWindowMs)} ms before the kill, within one flush interval and its timeout`,
      );
      reportFigure('debezium-connect-kill', {
        acknowledged: figures.acknowledged,
        acknowledgedWhileDown: measured.acknowledgedWhileDown,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        resentWindow: `${String(resentWindowMs)} ms (offset flush every ${String(flushIntervalMs)} ms)`,
        readModelsEqualToFold: true,
        workerRestartedIn: `${(connect.startedInMs / 1_000).toFixed(1)} s`,
      });
    });
  });

  /**
   * Scenario 2: Postgres is stopped with `pg_ctl -m immediate` (every backend and the connector's
   * walsender killed, crash recovery on start) while clients retry each command with its
   * Idempotency-Key, as in postgres-restart.faults.spec.ts. The apps run as processes and are never
   * restarted, and neither is the connector: it must find the slot again by itself.
   */
  describe('Postgres immediate shutdown and restart under load', () => {
    let env: TestEnvironment | undefined;
    const processes: AppProcess[] = [];

    after(async () => {
      await Promise.all(processes.map((app) => app.stop('SIGKILL')));
      await env?.dispose();
    });

    it('the connector recovers unaided; retried commands land once, nothing is lost', async () => {
      env = await createTestEnvironment('dbz_pg_restart', {
        partitions: 3,
        databaseServerUrl: postgres.url,
        capture: connect,
      });
      const connector = env.captureConnector ?? '';
      const captureEnv = { OUTBOX_RELAY: 'debezium', OUTBOX_CAPTURE_SLOT: env.config.relay.captureSlot };
      const commandApi = new AppProcess('command-api', env.config, undefined, captureEnv);
      const worker = new AppProcess('projection-worker', env.config, undefined, captureEnv);
      processes.push(commandApi, worker);
      const exits: string[] = [];
      void commandApi.exited.then((code) => exits.push(`command-api exited (${String(code)})`));
      void worker.exited.then((code) => exits.push(`projection-worker exited (${String(code)})`));
      await Promise.all([commandApi.ready, worker.ready]);

      // Every state the connector and its task pass through, sampled while the test runs.
      const statesSeen = new Set<string>();
      const watching = { done: false };
      const watcher = (async () => {
        while (!watching.done) {
          const status = await connect.status(connector).catch(() => undefined);
          for (const part of status ? [status.connector, ...status.tasks] : []) statesSeen.add(part.state);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();

      const acknowledged = new AcknowledgedCommands();
      const answers = { retried: 0, replayed: 0 };
      const stop = { done: false };
      const load = loadUntil(commandApi.url, 1902, stop, {
        max: 1_000_000,
        retryForMs: 120_000,
        attemptTimeoutMs: () => 5_000,
        onAcknowledged: (orderId, version, eventType) => {
          acknowledged.record(orderId, version, eventType);
        },
        onRetry: () => {
          answers.retried++;
        },
        onReplayed: () => {
          answers.replayed++;
        },
      });
      load.catch(() => {
        stop.done = true;
      });

      const recoverySeconds: number[] = [];
      try {
        for (let restart = 1; restart <= PG_RESTARTS; restart++) {
          const atStart = acknowledged.size;
          await eventually(
            () => {
              assert.ok(acknowledged.size >= atStart + 30, 'commands are flowing when Postgres goes down');
            },
            { timeoutMs: 60_000, intervalMs: 50 },
          );
          const retriedAtCrash = answers.retried;
          await postgres.crash();
          // Down until a client has seen a command fail: then start it again.
          await eventually(
            () => {
              assert.ok(answers.retried > retriedAtCrash, 'a command failed while Postgres was down');
            },
            { timeoutMs: 60_000, intervalMs: 25 },
          );
          await postgres.startServer();
          const restartedAt = performance.now();
          // Recovered: a command acknowledged after the restart reached the read model through the
          // connector, and the connector reads its slot again.
          const atRestart = acknowledged.size;
          await eventually(
            () => {
              assert.ok(acknowledged.size > atRestart + 5, `commands acknowledged after restart ${String(restart)}`);
            },
            { timeoutMs: 90_000, intervalMs: 50 },
          );
          await probeReachesReadModel(env, acknowledged);
          recoverySeconds.push((performance.now() - restartedAt) / 1_000);
          await eventually(
            async () => {
              assert.equal((await slotState(env!)).active, true, 'the slot is read again');
            },
            {
              timeoutMs: 60_000,
              intervalMs: 100,
            },
          );
        }
      } finally {
        stop.done = true;
        await load;
        watching.done = true;
        await watcher;
      }

      assert.deepEqual(exits, [], 'no app process exited');
      // Debezium takes the lost connection as retriable (errors.max.retries): it restarts its own
      // streaming, and Connect never sees the task fail.
      assert.ok(!statesSeen.has('FAILED'), `the task never FAILED: ${[...statesSeen].join(', ')}`);
      const status = await connect.status(connector);
      assert.deepEqual(
        [status?.connector.state, ...(status?.tasks ?? []).map((task) => task.state)],
        ['RUNNING', 'RUNNING'],
        'the connector and its task run, restarted by nobody',
      );
      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      reportFigure('debezium-postgres-restart', {
        restarts: PG_RESTARTS,
        acknowledged: figures.acknowledged,
        retried: answers.retried,
        replayed: answers.replayed,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        connectorStatesSeen: [...statesSeen].sort().join('/'),
        readModelsEqualToFold: true,
        recoveredIn: `${Math.max(...recoverySeconds).toFixed(1)} s`,
      });
      await Promise.all(processes.map((app) => app.stop('SIGTERM')));
    });
  });

  /**
   * Scenario 3: the commit-order gap, as in commit-order-gap.faults.spec.ts. A real command is held
   * open after its append (the test holds an uncommitted row with the command's idempotency key, so
   * the command's own insert of it waits) while other orders' commands commit and are published.
   * Then the held command commits, or is cancelled and rolls back. Debezium reads the log in commit
   * order, so the late commit is published after the later ones, and a rollback is never decoded.
   */
  describe('commit-order gap', () => {
    let env: TestEnvironment;
    let system: RunningSystem;
    const acknowledged = new AcknowledgedCommands();
    const blockers: pg.Client[] = [];
    const random = seededRandom(1903);
    let laterCommitted = 0;

    before(async () => {
      env = await createTestEnvironment('dbz_commit_gap', {
        partitions: 3,
        databaseServerUrl: postgres.url,
        capture: connect,
      });
      system = await startSystem(env.config);
    });

    after(async () => {
      await Promise.all(blockers.map((client) => client.end().catch(() => undefined)));
      await system.close();
      await env.dispose();
    });

    const server = (): TestServer => system.commandApi.getHttpServer();

    const placeOrder = async (): Promise<string> => {
      const placed = await request(server()).post('/orders').send(placeOrderBody()).expect(201);
      const { orderId, version } = placed.body as { orderId: string; version: number };
      acknowledged.record(orderId, version, 'OrderPlaced');
      return orderId;
    };

    /** Starts `POST /orders/:id/lines`, whose transaction appends and then waits on the test's uncommitted key. */
    const holdAppend = async (
      orderId: string,
    ): Promise<{ held: Promise<request.Response>; pid: number; blocker: pg.Client }> => {
      const key = randomUUID();
      const blocker = new pg.Client({ connectionString: env.config.databaseUrl });
      blockers.push(blocker);
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO idempotency_keys (key, fingerprint, response_status, response_body, response_headers, expires_at)
         VALUES ($1, 'held by the test', 200, '{}', '{}', now() + interval '1 hour')`,
        [key],
      );
      const held = request(server())
        .post(`/orders/${orderId}/lines`)
        .set('Idempotency-Key', key)
        .send({ sku: 'HELD-1', quantity: 1, unitPriceMinor: 500 })
        .then((response) => response);
      const pid = await eventually(
        async () => {
          const { rows } = await env.db.query<{ pid: number; captured: boolean }>(
            `SELECT a.pid, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = 'outbox_capture'::regclass AND l.mode = 'RowExclusiveLock') AS captured
             FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.query LIKE 'INSERT INTO idempotency_keys%'`,
          );
          assert.equal(rows.length, 1, 'the command waits on its idempotency key');
          assert.equal(rows[0]?.captured, true, 'after writing its record for capture');
          return rows[0].pid;
        },
        { timeoutMs: 15_000, intervalMs: 25 },
      );
      return { held, pid, blocker };
    };

    /** Other orders' commands commit while one is held; the connector publishes every one of them. */
    const commitLaterAppends = async (heldOrderId: string): Promise<void> => {
      const results = await inParallel(GAP_LATER_LIFECYCLES, 4, () =>
        runRandomLifecycle(server(), seededRandom(Math.floor(random() * 2 ** 32)), undefined, {
          onAcknowledged: (orderId, version, eventType) => {
            acknowledged.record(orderId, version, eventType);
          },
        }),
      );
      laterCommitted += results.length;
      const { rows } = await env.db.query<{ event_id: string }>('SELECT event_id::text FROM events');
      const committed = new Set(rows.map((row) => row.event_id));
      const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) => {
        const seen = new Set(read.map((record) => record.headers['event-id']));
        return [...committed].every((id) => seen.has(id));
      });
      const ofHeld = records.filter((record) => record.key === heldOrderId).map((r) => versionOf(r));
      assert.deepEqual(ofHeld, [1], 'the held append is not published while it is uncommitted');
    };

    it("publishes an append that commits after later ones, after them, in its order's order", async () => {
      const orderId = await placeOrder();
      const { held, blocker } = await holdAppend(orderId);
      // A second command of the same order queues behind the held one (the order's lock).
      const next = request(server())
        .post(`/orders/${orderId}/confirm`)
        .send({ paymentReference: 'pay-held' })
        .then((response) => response);
      await commitLaterAppends(orderId);

      await blocker.query('ROLLBACK'); // the test's key row goes away: the held command commits
      const [heldAnswer, nextAnswer] = await Promise.all([held, next]);
      assert.equal(heldAnswer.status, 200, heldAnswer.text);
      assert.equal(nextAnswer.status, 200, nextAnswer.text);
      acknowledged.record(orderId, (heldAnswer.body as { version: number }).version, 'OrderLineAdded');
      acknowledged.record(orderId, (nextAnswer.body as { version: number }).version, 'OrderConfirmed');

      const { rows } = await env.db.query<{ late: string; later: string }>(
        `SELECT (SELECT position FROM events WHERE order_id = $1 AND version = 2)::text AS late,
                (SELECT max(position) FROM events WHERE order_id <> $1)::text AS later`,
        [orderId],
      );
      assert.ok(
        BigInt(rows[0]?.late ?? '0') < BigInt(rows[0]?.later ?? '0'),
        'the late commit has a lower position than appends already published',
      );
      // Published once it committed, behind everything that committed before it on its partition.
      const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) =>
        read.some((record) => record.key === orderId && versionOf(record) === 3),
      );
      const ofOrder = records.filter((record) => record.key === orderId);
      assert.deepEqual(ofOrder.map(versionOf), [1, 2, 3], "the order's events in version order, each once");
      const late = ofOrder[1];
      assert.ok(late);
      // Commit order, not position order: every event at a higher position committed first, and is
      // ahead of the late one wherever they share a partition.
      const { rows: higher } = await env.db.query<{ event_id: string }>(
        'SELECT event_id::text FROM events WHERE position > (SELECT position FROM events WHERE order_id = $1 AND version = 2) AND order_id <> $1',
        [orderId],
      );
      const higherIds = new Set(higher.map((row) => row.event_id));
      const behind = records.filter(
        (record) =>
          record.partition === late.partition &&
          higherIds.has(record.headers['event-id'] ?? '') &&
          BigInt(record.offset) > BigInt(late.offset),
      );
      assert.deepEqual(behind, [], 'no event that committed before the late one was published after it');
    });

    it('never publishes an append that rolls back after later ones committed', async () => {
      const orderId = await placeOrder();
      const { held, pid, blocker } = await holdAppend(orderId);
      await commitLaterAppends(orderId);

      await env.db.query('SELECT pg_cancel_backend($1)', [pid]); // the held transaction fails and rolls back
      const heldAnswer = await held;
      assert.ok(heldAnswer.status >= 500, `the rolled-back command was not acknowledged: ${String(heldAnswer.status)}`);
      await blocker.query('ROLLBACK');
      // The order goes on from version 1: the rolled-back version 2 never existed.
      const added = await request(server())
        .post(`/orders/${orderId}/lines`)
        .send({ sku: 'AFTER-1', quantity: 1, unitPriceMinor: 700 })
        .expect(200);
      assert.equal((added.body as { version: number }).version, 2);
      acknowledged.record(orderId, 2, 'OrderLineAdded');

      // topicMatchesStore: every record on the topic is a stored event (the rolled-back one is not), in order per order.
      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      const { records } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
      const ofOrder = records
        .map((record) => JSON.parse(record.value ?? '{}') as { orderId?: string; data?: { sku?: string } })
        .filter((event) => event.orderId === orderId);
      const rolledBackPublished = ofOrder.filter((event) => event.data?.sku === 'HELD-1').length;
      assert.equal(rolledBackPublished, 0, 'the rolled-back append is nowhere on the topic');
      assert.equal(ofOrder.length, 2, "the order's records are its v1 and the line added after the rollback");
      // skipped 0: the oracle found every stored event, the late commit included, on the topic read to its end.
      reportFigure('debezium-commit-order-gap', {
        heldCommits: 1,
        heldRollbacks: 1,
        laterOrdersCommittedMeanwhile: laterCommitted,
        acknowledged: figures.acknowledged,
        lost: figures.lost,
        skipped: 0,
        rolledBackPublished,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        appliedTwice: figures.appliedTwice,
        readModelsEqualToFold: true,
      });
    });
  });

  /**
   * Scenario 4: Kafka is killed (`kill -9`) while clients place and manage orders. Commands only need
   * Postgres, so they keep succeeding; the connector cannot publish, so it confirms nothing and the
   * slot holds the WAL of everything since. A broker, a worker and app processes of the scenario's
   * own: the shared broker on 9092 is never touched.
   */
  describe('Kafka down while commands succeed', () => {
    let broker: PrivateBroker | undefined;
    let worker: PrivateConnect | undefined;
    let env: TestEnvironment | undefined;
    const processes: AppProcess[] = [];

    after(async () => {
      await Promise.all(processes.map((app) => app.stop('SIGKILL')));
      try {
        await env?.dispose();
      } finally {
        await worker?.destroy();
        await broker?.destroy();
      }
    });

    it('the slot holds what Kafka could not take; all of it is published once the broker is back', async () => {
      broker = await PrivateBroker.start();
      worker = await PrivateConnect.start({ brokers: [broker.address] });
      env = await createTestEnvironment('dbz_kafka_down', {
        partitions: 3,
        databaseServerUrl: postgres.url,
        kafkaBrokers: [broker.address],
        capture: worker,
      });
      const connector = env.captureConnector ?? '';
      const slot = env.config.relay.captureSlot;
      const captureEnv = { OUTBOX_RELAY: 'debezium', OUTBOX_CAPTURE_SLOT: slot };
      const commandApi = new AppProcess('command-api', env.config, undefined, captureEnv);
      const projections = new AppProcess('projection-worker', env.config, undefined, captureEnv);
      processes.push(commandApi, projections);
      const exits: string[] = [];
      void commandApi.exited.then((code) => exits.push(`command-api exited (${String(code)})`));
      void projections.exited.then((code) => exits.push(`projection-worker exited (${String(code)})`));
      await Promise.all([commandApi.ready, projections.ready]);

      const acknowledged = new AcknowledgedCommands();
      const stop = { done: false };
      const load = loadUntil(commandApi.url, 1904, stop, {
        max: 1_000_000,
        retryForMs: 60_000,
        onAcknowledged: (orderId, version, eventType) => {
          acknowledged.record(orderId, version, eventType);
        },
      });
      load.catch(() => {
        stop.done = true;
      });

      const lag = async (): Promise<number> => (await captureSlotLagBytes(env!.db, slot)) ?? 0;
      const confirmed = async (): Promise<string> => {
        const { rows } = await env!.db.query<{ lsn: string }>(
          'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
          [slot],
        );
        return rows[0]?.lsn ?? '';
      };
      const measured = { lagAtKill: 0, lagWhileDown: 0, acknowledgedWhileDown: 0, recoveredIn: 0 };
      try {
        await eventually(
          () => {
            assert.ok(acknowledged.size >= 30, 'commands are flowing');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        await probeReachesReadModel(env, acknowledged);

        await broker.kill();
        measured.lagAtKill = await lag();
        const atKill = acknowledged.size;
        // Commands keep succeeding: they only write Postgres.
        await eventually(
          () => {
            assert.ok(acknowledged.size >= atKill + 5, 'commands acknowledged with Kafka down');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        // A position written after commands committed with Kafka down: the slot must not pass it
        // while Kafka is down, since nothing past the kill was published.
        const { rows } = await env.db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
        const writtenWhileDown = rows[0]?.lsn ?? '';
        await eventually(
          () => {
            assert.ok(acknowledged.size >= atKill + 60, 'more commands acknowledged with Kafka down');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        measured.acknowledgedWhileDown = acknowledged.size - atKill;
        measured.lagWhileDown = await lag();
        const { rows: held } = await env.db.query<{ holds: boolean }>('SELECT $1::pg_lsn > $2::pg_lsn AS holds', [
          writtenWhileDown,
          await confirmed(),
        ]);
        assert.equal(held[0]?.holds, true, 'the slot has not confirmed what was written with Kafka down');
        assert.ok(
          measured.lagWhileDown > measured.lagAtKill,
          `the slot's lag grew: ${String(measured.lagAtKill)} to ${String(measured.lagWhileDown)} bytes`,
        );
        // Operators see it as the command API reports the backlog: in the slot's log, not in events.
        const backlog = await fetch(`${commandApi.url}/admin/outbox`, {
          headers: { Authorization: `Bearer ${env.config.adminToken ?? ''}` },
        });
        assert.equal(backlog.status, 200);
        const reported = (await backlog.json()) as {
          relay: string;
          backlogEvents: unknown;
          captureSlot: { name: string; present: boolean; lagBytes: number };
        };
        assert.deepEqual(
          [reported.relay, reported.backlogEvents, reported.captureSlot.name, reported.captureSlot.present],
          ['debezium', null, slot, true],
        );
        // Commands were written after `writtenWhileDown`, which the slot has not confirmed: it holds log.
        assert.ok(
          reported.captureSlot.lagBytes > 0,
          `GET /admin/outbox shows the log the slot holds: ${String(reported.captureSlot.lagBytes)} bytes`,
        );
        await worker.assertNotFailed(connector);

        await broker.restart();
        const restartedAt = performance.now();
        const atRestart = acknowledged.size;
        await eventually(
          () => {
            assert.ok(acknowledged.size > atRestart, 'a command acknowledged after the restart');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        await probeReachesReadModel(env, acknowledged);
        measured.recoveredIn = (performance.now() - restartedAt) / 1_000;
        // Published, so confirmed: the slot lets go of what it held.
        await eventually(
          async () => {
            const { rows: passed } = await env!.db.query<{ passed: boolean }>(
              'SELECT $2::pg_lsn >= $1::pg_lsn AS passed',
              [writtenWhileDown, await confirmed()],
            );
            assert.equal(passed[0]?.passed, true, 'the slot confirmed past what was written with Kafka down');
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
      } finally {
        stop.done = true;
        await load;
      }

      assert.deepEqual(exits, [], 'no app process exited');
      await worker.assertNotFailed(connector);
      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      reportFigure('debezium-kafka-down', {
        acknowledged: figures.acknowledged,
        acknowledgedWhileDown: measured.acknowledgedWhileDown,
        slotLagAtKill: `${String(measured.lagAtKill)} B`,
        slotLagWhileDown: `${String(measured.lagWhileDown)} B`,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        readModelsEqualToFold: true,
        recoveredIn: `${measured.recoveredIn.toFixed(1)} s`,
      });
      await Promise.all(processes.map((app) => app.stop('SIGTERM')));
    });
  });

  /**
   * Scenario 5: an idle outbox beside a busy table. No commands for a while, and a writer fills a
   * scratch table of the same database with thousands of rows a second. The publication carries
   * none of it, so the connector receives nothing to publish and confirm; only the driver's
   * confirmations of the server's keepalives (lsn.flush.mode=connector_and_driver) and Debezium's
   * heartbeats move the slot. Without them the slot would hold every byte the writer writes.
   */
  describe('idle outbox beside a busy table', () => {
    let env: TestEnvironment | undefined;
    let system: RunningSystem | undefined;

    after(async () => {
      await system?.close();
      await env?.dispose();
    });

    // With nothing for the outbox, the slot moves only through the connector's heartbeats: each
    // writes a logical decoding message and produces a heartbeat record carrying its position, and
    // the offsets flushed after it confirm that position to the slot (capture-connector.ts).
    it("the slot's lag stays bounded while only other tables are written, and new commands are published", async () => {
      env = await createTestEnvironment('dbz_idle_outbox', {
        partitions: 3,
        databaseServerUrl: postgres.url,
        capture: connect,
      });
      system = await startSystem(env.config);
      const db = env.db;
      const slot = env.config.relay.captureSlot;
      const acknowledged = new AcknowledgedCommands();
      const place = async (count: number): Promise<void> => {
        await inParallel(count, 2, () =>
          runRandomLifecycle(system!.commandApi.getHttpServer(), seededRandom(acknowledged.size + 1905), undefined, {
            onAcknowledged: (orderId, version, eventType) => {
              acknowledged.record(orderId, version, eventType);
            },
          }),
        );
      };
      await place(5);
      await probeReachesReadModel(env, acknowledged);

      await db.query('CREATE TABLE scratch_busy (id bigserial PRIMARY KEY, filler text NOT NULL)');
      const busy = { done: false, rows: 0 };
      const writer = (async () => {
        while (!busy.done) {
          await db.query(
            `INSERT INTO scratch_busy (filler) SELECT repeat(md5(n::text), 3) FROM generate_series(1, ${String(BUSY_ROWS_PER_STATEMENT)}) n`,
          );
          busy.rows += BUSY_ROWS_PER_STATEMENT;
          await new Promise((resolve) => setTimeout(resolve, 50)); // a pace, not a wait for anything
        }
      })();
      const lsnNow = async (): Promise<string> =>
        (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn ?? '';
      const startedAt = performance.now();
      const busyFrom = await lsnNow();
      let maxLag = 0;
      const roundSeconds: number[] = [];
      try {
        // Each round: a position the writer has just written past, with nothing for the outbox in
        // between; the slot must confirm it while the writer keeps writing. Passing it round after
        // round, the lag stays below what the writer writes in about one round.
        for (let round = 1; round <= IDLE_ROUNDS; round++) {
          const mark = await lsnNow();
          const roundFrom = performance.now();
          await eventually(
            async () => {
              const { rows } = await db.query<{ passed: boolean; lag: string }>(
                `SELECT confirmed_flush_lsn >= $2::pg_lsn AS passed,
                        pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
                   FROM pg_replication_slots WHERE slot_name = $1`,
                [slot, mark],
              );
              maxLag = Math.max(maxLag, Number(rows[0]?.lag ?? 0));
              assert.equal(
                rows[0]?.passed,
                true,
                `round ${String(round)}: the slot confirmed a position written while the outbox was idle`,
              );
            },
            { timeoutMs: IDLE_ROUND_TIMEOUT_MS, intervalMs: 200 },
          );
          roundSeconds.push((performance.now() - roundFrom) / 1_000);
        }
      } finally {
        busy.done = true;
        await writer;
      }
      const busySeconds = (performance.now() - startedAt) / 1_000;
      const { rows: written } = await db.query<{ bytes: string }>(
        'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes',
        [busyFrom],
      );
      const busyBytes = Number(written[0]?.bytes ?? 0);
      // The bound: at its worst, the slot held a fraction of what the writer wrote: it let go as it went.
      assert.ok(
        maxLag < busyBytes,
        `the slot held at most ${String(maxLag)} bytes of the ${String(busyBytes)} the writer wrote`,
      );

      // The outbox wakes up: new commands are published as before.
      const before = acknowledged.size;
      await place(5);
      assert.ok(acknowledged.size > before);
      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      reportFigure('debezium-idle-outbox', {
        busyRows: busy.rows,
        busyRowsPerSecond: Math.round(busy.rows / busySeconds),
        walWrittenWhileIdle: `${(busyBytes / 1_048_576).toFixed(1)} MB`,
        maxSlotLag: `${(maxLag / 1_048_576).toFixed(1)} MB`,
        roundsConfirmedIn: `${roundSeconds.map((seconds) => seconds.toFixed(1)).join('/')} s`,
        heartbeatInterval: `${String(Number(captureConnectorConfig({ databaseUrl: env.config.databaseUrl, topic: env.config.kafka.ordersTopic })['heartbeat.interval.ms']) / 1_000)} s`,
        acknowledged: figures.acknowledged,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        readModelsEqualToFold: true,
      });
    });
  });

  /**
   * Scenario 6: a teardown, then the connector registered again. The documented teardown
   * (`npm run connect:stop`): the connector deleted, the worker stopped gracefully, the slot dropped
   * and the worker's offsets wiped with it. Precisely:
   * - events committed before the teardown are not published again (the new connector starts at its
   *   new slot, and no offsets point it anywhere older);
   * - events committed after the new slot exists are published, each once;
   * - events committed in between are NOT captured: no slot kept their WAL, so no connector will
   *   ever publish them. A command API that is already running keeps committing meanwhile (it
   *   checks for the slot when it starts); one started in between refuses to start, as shown.
   */
  describe('teardown and registering again', () => {
    let env: TestEnvironment | undefined;
    let system: RunningSystem | undefined;

    after(async () => {
      await system?.close();
      await env?.dispose();
    });

    it('nothing committed before is published again, everything after the new slot is published once', async () => {
      env = await createTestEnvironment('dbz_teardown', {
        partitions: 3,
        databaseServerUrl: postgres.url,
        capture: connect,
      });
      system = await startSystem(env.config);
      const connector = env.captureConnector ?? '';
      const slot = env.config.relay.captureSlot;
      const acknowledged = new AcknowledgedCommands();
      const between = new AcknowledgedCommands();
      const run = async (into: AcknowledgedCommands, seed: number): Promise<void> => {
        await inParallel(TEARDOWN_LIFECYCLES, 2, (index) =>
          runRandomLifecycle(system!.commandApi.getHttpServer(), seededRandom(seed + index), undefined, {
            onAcknowledged: (orderId, version, eventType) => {
              into.record(orderId, version, eventType);
            },
          }),
        );
      };
      const eventIdsOf = async (commands: AcknowledgedCommands): Promise<string[]> => {
        const orders = [...commands.orders()].map(([orderId]) => orderId);
        const { rows } = await env!.db.query<{ event_id: string }>(
          'SELECT event_id::text FROM events WHERE order_id = ANY($1::uuid[])',
          [orders],
        );
        return rows.map((row) => row.event_id);
      };

      await run(acknowledged, 19060);
      const before = await eventIdsOf(acknowledged);
      await readTopic(env.kafka, env.config.kafka.ordersTopic, (records) => {
        const seen = new Set(records.map((record) => record.headers['event-id']));
        return before.every((id) => seen.has(id));
      });

      // The teardown, as scripts/connect.sh stop does it.
      await connect.remove(connector);
      await connect.stop();
      assert.equal(await eventually(() => dropCaptureSlot(env!.db, slot), { timeoutMs: 30_000 }), true);
      rmSync(join(connect.home, 'offsets.dat'), { force: true });
      await connect.restart();

      // Committed with no slot: the running command API does not notice.
      await run(between, 19061);
      const notCaptured = await eventIdsOf(between);
      await assert.rejects(
        startTestApp(CommandApiModule, env.config),
        /no replication slot .*register the capture connector first/s,
        'a command API started now refuses to start, naming the missing slot',
      );

      await registerAgain(connect, env);
      await run(acknowledged, 19062);
      const all = await eventIdsOf(acknowledged);
      const after = all.filter((id) => !before.includes(id));
      await readTopic(env.kafka, env.config.kafka.ordersTopic, (records) => {
        const seen = new Set(records.map((record) => record.headers['event-id']));
        return after.every((id) => seen.has(id));
      });

      const byEvent = await recordsByEvent(env);
      const copies = (ids: readonly string[]): number[] => ids.map((id) => byEvent.get(id)?.length ?? 0);
      assert.deepEqual(
        new Set(copies(before)),
        new Set([1]),
        'committed before the teardown: published once, never again',
      );
      assert.deepEqual(new Set(copies(after)), new Set([1]), 'committed after the new slot: published, once');
      assert.deepEqual(new Set(copies(notCaptured)), new Set([0]), 'committed between: never captured');

      // The oracle over everything else: the uncaptured orders (shown above) are taken out of the
      // store, as if they had never been placed; what remains must hold every guarantee.
      await env.db.query('DELETE FROM events WHERE event_id = ANY($1::uuid[])', [notCaptured]);
      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      assert.equal(figures.duplicatesOnTopic, 0, 'nothing was published twice');
      reportFigure('debezium-teardown', {
        publishedBeforeTeardown: before.length,
        republished: copies(before).filter((n) => n > 1).length,
        committedWithoutSlot: notCaptured.length,
        capturedWithoutSlot: copies(notCaptured).filter((n) => n > 0).length,
        commandApiWithoutSlotRefusedToStart: true,
        publishedAfterNewSlot: after.length,
        skipped: copies(after).filter((n) => n === 0).length,
        lost: figures.lost,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        appliedTwice: figures.appliedTwice,
        readModelsEqualToFold: true,
      });
    });
  });
});
