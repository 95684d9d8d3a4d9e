import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { captureConnectorConfig } from '@app/event-store';
import {
  AcknowledgedCommands,
  AppProcess,
  PrivateConnect,
  PrivatePostgres,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  readTopicToEnd,
  repositoryRoot,
  reportFigure,
  startSystem,
  type ReadRecord,
  type RunningSystem,
  type TestEnvironment,
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
      if (process.env.DBZ_KEEP_LOG)
        (await import('node:fs')).cpSync(join(connect.home, 'connect.out'), process.env.DBZ_KEEP_LOG);
    } finally {
      await connect.destroy();
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

      let killedAt = 0;
      let acknowledgedWhileDown = 0;
      try {
        // The connector publishes under load: commands reach the read model through it.
        await eventually(
          () => {
            assert.ok(acknowledged.size >= 40, 'commands are flowing');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        await probeReachesReadModel(env, acknowledged);

        killedAt = Date.now();
        await connect.kill();
        const atKill = acknowledged.size;
        // Nothing reads the slot now, and commands still commit: they only need Postgres.
        await eventually(async () => assert.equal((await slotState(env!)).active, false, 'the slot is idle'), {
          timeoutMs: 30_000,
          intervalMs: 50,
        });
        await eventually(
          () => {
            assert.ok(acknowledged.size >= atKill + 30, 'commands acknowledged with the worker down');
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        acknowledgedWhileDown = acknowledged.size - atKill;

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
      const resentWindowMs = twice.length === 0 ? 0 : killedAt - resentSince;
      assert.ok(
        resentWindowMs <= flushIntervalMs + OFFSET_FLUSH_TIMEOUT_MS,
        `the re-sent events were decided ${String(resentWindowMs)} ms before the kill, within one flush interval and its timeout`,
      );
      reportFigure('debezium-connect-kill', {
        acknowledged: figures.acknowledged,
        acknowledgedWhileDown,
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
          await eventually(async () => assert.equal((await slotState(env!)).active, true, 'the slot is read again'), {
            timeoutMs: 60_000,
            intervalMs: 100,
          });
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
});
