import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { ClusterProbe, KafkaConnection } from '@app/messaging';
import { loadConfig } from '@app/platform';
import { projections } from '@app/projections';

import {
  AcknowledgedCommands,
  AppProcess,
  PrivateCluster,
  PrivatePostgres,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  reportFigure,
  type TestEnvironment,
  type TestEnvironmentOptions,
} from '@app/testing';

/** Six partitions, so that each of the three nodes leads about two and a fourth worker gets some. */
const PARTITIONS = 6;

type App = 'command-api' | 'projection-worker' | 'query-api';

/** One scenario's environment on the shared cluster, its apps, and the exits nobody asked for. */
interface Scenario {
  readonly env: TestEnvironment;
  readonly cluster: PrivateCluster;
  readonly topic: string;
  /** Starts an app as its own process; resolves once it serves. */
  readonly start: (app: App, extraEnv?: Record<string, string>) => Promise<AppProcess>;
  /** Stops an app on purpose (its exit is then expected). */
  readonly stop: (app: AppProcess, signal: NodeJS.Signals) => Promise<void>;
  /** Apps that exited without being stopped by the test. */
  readonly exits: readonly string[];
}

/** Clients placing and managing orders until stopped, retrying each command with its key for a minute. */
function startLoad(
  url: string,
  seed: number,
  acknowledged: AcknowledgedCommands,
): { stop(): Promise<void>; readonly placed: Promise<number> } {
  const flag = { done: false };
  const placed = loadUntil(url, seed, flag, {
    max: 1_000_000,
    retryForMs: 60_000,
    onAcknowledged: (orderId, version, eventType) => {
      acknowledged.record(orderId, version, eventType);
    },
  });
  placed.catch(() => {
    flag.done = true;
  }); // a failed command fails the test when the load is stopped, not as an unhandled rejection
  return {
    placed,
    async stop() {
      flag.done = true;
      await placed;
    },
  };
}

/** Resolves once `count` more commands than `from` were acknowledged. */
async function acknowledgedBeyond(acknowledged: AcknowledgedCommands, from: number, count: number): Promise<void> {
  await eventually(
    () => {
      assert.ok(
        acknowledged.size >= from + count,
        `${String(acknowledged.size - from)} of ${String(count)} commands acknowledged`,
      );
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
}

/** Resolves once the latest acknowledged command is in the read model: the whole pipeline moves. */
async function latestVisible(env: TestEnvironment, acknowledged: AcknowledgedCommands, what: string): Promise<void> {
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
        `order ${probe.orderId} at version ${String(probe.version)} in the read model ${what}`,
      );
    },
    { timeoutMs: 180_000, intervalMs: 100 },
  );
}

/** kafkajs's words for NOT_ENOUGH_REPLICAS and NOT_ENOUGH_REPLICAS_AFTER_APPEND. */
const NOT_ENOUGH_REPLICAS = /fewer in-sync replicas/i;

/** The relay's failed sends in `log`, by kind of error (addresses and numbers left out), with how many of each. */
function relayErrors(log: readonly string[], topic: string): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const line of log) {
    const message = /relay error, retrying in \d+ ms: ([^"]*)/.exec(line)?.[1];
    if (message === undefined) continue;
    const kind = message
      .replaceAll(topic, '<topic>')
      .replace(/[\d.:]+\d/g, '')
      .replace(/[,\s]+/g, ' ')
      .trim()
      .slice(0, 120);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

const secondsSince = (start: number): string => `${((performance.now() - start) / 1_000).toFixed(1)} s`;

/**
 * The fault scenarios of a production topology: one private three-node KRaft cluster (each node a
 * broker and a controller, `scripts/kafka.sh` with KAFKA_NODES=3), the log replicated three times
 * with `min.insync.replicas=2`, the apps as real processes. Each scenario has an environment of its
 * own (database, topic, groups) and starts with every node up and every replica in sync.
 */
describe('faults on a three-broker cluster (replication factor 3, min.insync.replicas 2)', () => {
  let cluster: PrivateCluster | undefined;

  before(async () => {
    cluster = await PrivateCluster.start(3);
  });

  after(async () => {
    await cluster?.destroy();
  });

  /** Runs `body` in an environment of its own on `on` (default: the suite's cluster). */
  async function scenario(
    label: string,
    options: TestEnvironmentOptions & { on?: PrivateCluster },
    body: (scenario: Scenario) => Promise<void>,
  ): Promise<void> {
    const nodes = options.on ?? cluster;
    assert.ok(nodes, 'the cluster did not start');
    await nodes.startMissing(); // a scenario that failed half-way may have left a node down
    const env = await createTestEnvironment(label, { partitions: PARTITIONS, kafkaBrokers: nodes.brokers, ...options });
    const apps: AppProcess[] = [];
    const stopping = new Set<AppProcess>();
    const exits: string[] = [];
    try {
      const topic = env.config.kafka.ordersTopic;
      await nodes.awaitFullySynced(topic);
      await body({
        env,
        cluster: nodes,
        topic,
        exits,
        start: async (app, extraEnv = {}) => {
          const started = new AppProcess(app, env.config, undefined, extraEnv);
          apps.push(started);
          void started.exited.then((code) => {
            if (!stopping.has(started)) exits.push(`${app} (pid ${String(started.pid)}) exited (${String(code)})`);
          });
          await started.ready.catch((error: unknown) => {
            throw new Error(`${String(error)}; its last lines:\n${started.log.slice(-15).join('\n')}`);
          });
          return started;
        },
        stop: async (app, signal) => {
          stopping.add(app);
          await app.stop(signal);
        },
      });
    } finally {
      for (const app of apps) stopping.add(app);
      await Promise.all(apps.map((app) => app.stop('SIGKILL')));
      await env.dispose().catch((error: unknown) => {
        console.error(`dispose failed: ${String(error)}`);
      });
    }
  }

  /** The node leading the partitions that hold the most records, and how many of them it leads. */
  async function busiestLeader(nodes: PrivateCluster, topic: string): Promise<{ node: number; partitions: number }> {
    const admin = nodes.client().admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      const records = new Map(offsets.map((offset) => [offset.partition, Number(offset.high)]));
      const byNode = new Map<number, { records: number; partitions: number }>();
      for (const partition of await nodes.partitions(topic)) {
        const led = byNode.get(partition.leader) ?? { records: 0, partitions: 0 };
        byNode.set(partition.leader, {
          records: led.records + (records.get(partition.partition) ?? 0),
          partitions: led.partitions + 1,
        });
      }
      const [node, led] = [...byNode].sort(([, a], [, b]) => b.records - a.records)[0] ?? [];
      assert.ok(node !== undefined && led !== undefined && node > 0, 'a node leads the topic');
      return { node, partitions: led.partitions };
    } finally {
      await admin.disconnect();
    }
  }

  it('the leader of the busiest partitions killed -9: leadership moves, commands keep being acknowledged, nothing lost or applied twice', async () => {
    await scenario('cluster_leader_kill', {}, async ({ env, cluster, topic, start, exits }) => {
      const [commandApi] = await Promise.all([start('command-api'), start('projection-worker')]);
      const acknowledged = new AcknowledgedCommands();
      const load = startLoad(commandApi.url, 71, acknowledged);
      let victim: { node: number; partitions: number };
      let acknowledgedWhileDown: number;
      let leadershipMovedIn: string;
      let recoveredIn: string;
      try {
        await acknowledgedBeyond(acknowledged, 0, 40);
        victim = await busiestLeader(cluster, topic);
        const atKill = acknowledged.size;
        const killedAt = performance.now();
        await cluster.kill(victim.node);

        // The controllers fence the dead node (after its session times out) and move its
        // partitions to in-sync followers: every partition is led by a live node.
        await eventually(
          async () => {
            const partitions = await cluster.partitions(topic);
            const stranded = partitions.filter((p) => p.leader <= 0 || p.leader === victim.node);
            assert.deepEqual(stranded, [], `partitions still led by node ${String(victim.node)} or by none`);
          },
          { timeoutMs: 120_000, intervalMs: 100 },
        );
        leadershipMovedIn = secondsSince(killedAt);
        // Commands kept being acknowledged meanwhile, and one acknowledged now reaches the read model.
        await acknowledgedBeyond(acknowledged, atKill, 20);
        await latestVisible(env, acknowledged, `after node ${String(victim.node)} was killed`);
        recoveredIn = secondsSince(killedAt);
        acknowledgedWhileDown = acknowledged.size - atKill;

        await cluster.startMissing();
        await cluster.awaitFullySynced(topic);
      } finally {
        await load.stop();
      }

      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      assert.deepEqual(exits, [], 'no app exited: nothing needed a restart');
      // A batch in flight at the kill may be written and sent again, once by the relay's retry and
      // once more by the producer that replaces a failed one: two batches at most.
      const bound = 2 * env.config.relay.batchSize;
      assert.ok(
        figures.duplicatesOnTopic <= bound,
        `${String(figures.duplicatesOnTopic)} duplicates (at most ${String(bound)})`,
      );
      reportFigure('cluster-leader-kill', {
        killedNode: victim.node,
        partitionsItLed: `${String(victim.partitions)} of ${String(PARTITIONS)}`,
        acknowledged: figures.acknowledged,
        acknowledgedWhileDown,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        leadershipMovedIn,
        recoveredIn,
      });
    });
  });

  it("a broker's data folder wiped while it is down: restarted, it rebuilds every replica from the leaders, nothing lost", async () => {
    await scenario('cluster_disk_wipe', {}, async ({ env, cluster, topic, start, exits }) => {
      const [commandApi] = await Promise.all([start('command-api'), start('projection-worker')]);
      const acknowledged = new AcknowledgedCommands();
      const load = startLoad(commandApi.url, 72, acknowledged);
      const node = 2;
      let resyncedIn: string;
      try {
        await acknowledgedBeyond(acknowledged, 0, 40);
        await cluster.kill(node);
        cluster.wipe(node); // a failed disk replaced by an empty one
        // Replacing a disk takes longer than the controllers take to fence a dead node: its
        // replicas leave every in-sync set and its partitions move to the others. Only then does
        // the node return, so that rejoining the in-sync sets proves it fetched the log again.
        await eventually(
          async () => {
            const partitions = await cluster.partitions(topic);
            const stale = partitions.filter((p) => p.isr.includes(node) || p.leader === node);
            assert.deepEqual(stale, [], `node ${String(node)} is still counted in sync or leading`);
          },
          { timeoutMs: 120_000, intervalMs: 100 },
        );
        // The log grows while the node is away: it has all of it to fetch.
        await acknowledgedBeyond(acknowledged, acknowledged.size, 40);
        const restartedAt = performance.now();
        await cluster.startMissing(); // formats the empty folder and starts the node
        await cluster.awaitFullySynced(topic, 180_000);
        resyncedIn = secondsSince(restartedAt);
      } finally {
        await load.stop();
      }

      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      assert.deepEqual(exits, [], 'no app exited');
      // Nothing is written any more: the rebuilt replicas hold what their leaders hold, byte for byte.
      const probe = new ClusterProbe(
        new KafkaConnection(loadConfig({ KAFKA_BROKERS: cluster.brokers.join(',') }).kafka),
        'wipe-probe',
      );
      let bytes = 0;
      try {
        await eventually(
          async () => {
            const { logSizes } = await probe.probe([topic]);
            const ours = logSizes.filter((size) => size.topic === topic && !size.future);
            assert.equal(
              ours.length,
              3 * PARTITIONS,
              `a replica of each partition on each node: ${JSON.stringify(ours)}`,
            );
            for (let partition = 0; partition < PARTITIONS; partition++) {
              const replicas = ours.filter((size) => size.partition === partition);
              const rebuilt = replicas.find((size) => size.broker === node);
              assert.ok(rebuilt, `node ${String(node)} holds partition ${String(partition)}`);
              for (const replica of replicas)
                assert.equal(
                  rebuilt.bytes,
                  replica.bytes,
                  `partition ${String(partition)}: ${JSON.stringify(replicas)}`,
                );
            }
            bytes = ours.filter((size) => size.broker === node).reduce((sum, size) => sum + size.bytes, 0);
          },
          { timeoutMs: 60_000, intervalMs: 250 },
        );
      } finally {
        await probe.close();
      }
      assert.ok(bytes > 0, 'the rebuilt node holds the log again');
      reportFigure('cluster-disk-wipe', {
        wipedNode: node,
        acknowledged: figures.acknowledged,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        rebuiltBytes: bytes,
        resyncedIn,
      });
    });
  });

  it('two brokers down: the producer is refused for want of in-sync replicas, commands still succeed into the outbox, and all of it is published once they return', async () => {
    // Two of three combined nodes down would take the controller quorum with them: the in-sync
    // sets could not shrink, and the survivor would time out rather than refuse. Production
    // clusters keep the quorum apart, so this cluster has three brokers and a dedicated controller.
    const dedicated = await PrivateCluster.start(3, { controllers: 1 });
    try {
      await twoBrokersDown(dedicated);
    } finally {
      await dedicated.destroy();
    }
  });

  async function twoBrokersDown(on: PrivateCluster): Promise<void> {
    await scenario('cluster_two_down', { on }, async ({ env, cluster, topic, start, exits }) => {
      const [commandApi] = await Promise.all([start('command-api'), start('projection-worker')]);
      const acknowledged = new AcknowledgedCommands();
      const load = startLoad(commandApi.url, 73, acknowledged);
      let acknowledgedWhileDown: number;
      let heldInOutbox: number;
      let refusals: string;
      let refusal: string;
      let shrunkIn: string;
      let publishedIn: string;
      try {
        // A topic of the same settings for asking Kafka directly, so the log holds only our events.
        const probeTopic = `${topic}.probe`;
        await cluster.createTopic(probeTopic, { replicationFactor: 3, minInsyncReplicas: 2 });
        await acknowledgedBeyond(acknowledged, 0, 40);
        const logBefore = commandApi.log.length;
        const atKill = acknowledged.size;
        await Promise.all([cluster.kill(1), cluster.kill(3)]);
        const killedAt = performance.now();
        // The controller fences both and shrinks every in-sync set to the survivor alone: fewer
        // than min.insync.replicas.
        await eventually(
          async () => {
            for (const name of [topic, probeTopic]) {
              const notShrunk = (await cluster.partitions(name)).filter((p) => p.leader !== 2 || p.isr.join() !== '2');
              assert.deepEqual(notShrunk, [], `${name}: every partition led by node 2, alone in sync`);
            }
          },
          { timeoutMs: 120_000, intervalMs: 100 },
        );
        shrunkIn = secondsSince(killedAt);
        // Kafka refuses a write with acks=all for want of in-sync replicas.
        refusal = await eventually(
          async () => {
            const answer = await cluster.writeOnce(2, probeTopic);
            assert.match(answer, NOT_ENOUGH_REPLICAS, 'an acks=all write is refused');
            return answer;
          },
          { timeoutMs: 60_000, intervalMs: 250 },
        );
        // The clients' commands still commit, their events held in the outbox.
        await acknowledgedBeyond(acknowledged, atKill, 40);
        const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
        heldInOutbox = rows[0]?.n ?? 0;
        // Of the 40 acknowledged since the kill, each client's first may have been published before it.
        assert.ok(heldInOutbox >= 38, `events held in the outbox with two brokers down: ${String(heldInOutbox)}`);
        acknowledgedWhileDown = acknowledged.size - atKill;

        const restartedAt = performance.now();
        await cluster.startMissing();
        // Once the brokers are back, the relay publishes what waited and the read model catches up.
        await latestVisible(env, acknowledged, 'after the brokers returned');
        publishedIn = secondsSince(restartedAt);
        refusals = [...relayErrors(commandApi.log.slice(logBefore), topic)]
          .map(([kind, n]) => `${kind} ×${String(n)}`)
          .join(' / ');
        await cluster.awaitFullySynced(topic);
      } finally {
        await load.stop();
      }

      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      assert.deepEqual(exits, [], 'no app exited');
      const bound = 2 * env.config.relay.batchSize;
      assert.ok(
        figures.duplicatesOnTopic <= bound,
        `${String(figures.duplicatesOnTopic)} duplicates (at most ${String(bound)})`,
      );
      reportFigure('cluster-two-brokers-down', {
        acknowledged: figures.acknowledged,
        acknowledgedWhileDown,
        heldInOutbox,
        inSyncShrunkToOneIn: shrunkIn,
        kafkaRefused: JSON.stringify(refusal),
        relayErrors: JSON.stringify(refusals),
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        publishedAfterReturnIn: publishedIn,
      });
    });
  }

  it("the leading relay's command API killed -9 with a second one running: the other takes over, nothing lost, duplicates counted", async () => {
    await scenario('cluster_relay_failover', {}, async ({ env, start, stop, exits }) => {
      await start('projection-worker');
      const leader = await start('command-api');
      await eventually(
        () => {
          assert.ok(
            leader.log.some((line) => line.includes('outbox relay is the leader')),
            'the first relay leads',
          );
        },
        { timeoutMs: 30_000, intervalMs: 50 },
      );
      const standby = await start('command-api');
      assert.ok(!standby.log.some((line) => line.includes('outbox relay is the leader')), 'the second relay stands by');

      const acknowledged = new AcknowledgedCommands();
      const onLeader = startLoad(leader.url, 74, acknowledged);
      const onStandby = startLoad(standby.url, 75, acknowledged);
      let takenOverIn: string;
      let recoveredIn: string;
      try {
        await acknowledgedBeyond(acknowledged, 0, 60);
        // Its clients are done before the kill (no command is left unanswered); the other API's
        // clients go on, so its relay is publishing when it dies.
        await onLeader.stop();
        await acknowledgedBeyond(acknowledged, acknowledged.size, 10);
        const killedAt = performance.now();
        await stop(leader, 'SIGKILL');
        await eventually(
          () => {
            assert.ok(
              standby.log.some((line) => line.includes('outbox relay is the leader')),
              'the standby leads',
            );
          },
          { timeoutMs: 60_000, intervalMs: 50 },
        );
        takenOverIn = secondsSince(killedAt);
        await acknowledgedBeyond(acknowledged, acknowledged.size, 20);
        await latestVisible(env, acknowledged, 'after the leading relay was killed');
        recoveredIn = secondsSince(killedAt);
      } finally {
        await Promise.all([onLeader.stop(), onStandby.stop()]);
      }

      const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
      assert.deepEqual(exits, [], 'no app exited but the one killed');
      // The dead relay's batch in flight, published and not yet deleted, is published again: one batch at most.
      const bound = env.config.relay.batchSize;
      assert.ok(
        figures.duplicatesOnTopic <= bound,
        `${String(figures.duplicatesOnTopic)} duplicates (at most ${String(bound)})`,
      );
      reportFigure('cluster-relay-failover', {
        acknowledged: figures.acknowledged,
        lost: figures.lost,
        appliedTwice: figures.appliedTwice,
        duplicatesOnTopic: figures.duplicatesOnTopic,
        takenOverIn,
        recoveredIn,
      });
    });
  });

  it('a worker added and removed while three run, the read store on a second Postgres cluster: every group rebalances, nothing lost or applied twice', async () => {
    const readServer = await PrivatePostgres.start();
    try {
      await scenario(
        'cluster_worker_scale',
        { readStore: 'separate', readDatabaseServerUrl: readServer.url },
        async ({ env, cluster, start, stop, exits }) => {
          assert.ok(env.separateReadStore, 'the read store is a database of its own');
          const groupPrefix = `${env.config.kafka.groupPrefix}projection.`;
          const admin = cluster.client().admin();
          await admin.connect();
          /** Resolves once every projection's group is stable with `members` members. */
          const membersOfEachGroup = async (members: number): Promise<void> => {
            await eventually(
              async () => {
                const groupIds = (await admin.listGroups()).groups
                  .map((group) => group.groupId)
                  .filter((id) => id.startsWith(groupPrefix));
                assert.equal(groupIds.length, projections.length, `one group per projection: ${groupIds.join(', ')}`);
                const { groups } = await admin.describeGroups(groupIds);
                for (const group of groups)
                  assert.deepEqual(
                    [group.state, group.members.length],
                    ['Stable', members],
                    `${group.groupId} with ${String(members)} members`,
                  );
              },
              { timeoutMs: 120_000, intervalMs: 250 },
            );
          };

          const commandApi = await start('command-api');
          const workers = await Promise.all([1, 2, 3].map(() => start('projection-worker')));
          await membersOfEachGroup(3);
          const acknowledged = new AcknowledgedCommands();
          const load = startLoad(commandApi.url, 76, acknowledged);
          let addedIn: string;
          let removedIn: string;
          try {
            await acknowledgedBeyond(acknowledged, 0, 40);
            let changedAt = performance.now();
            const added = await start('projection-worker');
            await membersOfEachGroup(4);
            addedIn = secondsSince(changedAt);
            await acknowledgedBeyond(acknowledged, acknowledged.size, 30);
            await latestVisible(env, acknowledged, 'with four workers');

            changedAt = performance.now();
            const removed = workers[0];
            assert.ok(removed);
            await stop(removed, 'SIGTERM');
            await membersOfEachGroup(3);
            removedIn = secondsSince(changedAt);
            await acknowledgedBeyond(acknowledged, acknowledged.size, 30);
            await latestVisible(env, acknowledged, 'after a worker left');
            assert.ok(!exits.some((exit) => exit.includes(String(added.pid))), 'the added worker still runs');
          } finally {
            await load.stop();
            await admin.disconnect();
          }

          const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });
          assert.deepEqual(exits, [], 'no app exited but the one removed');
          reportFigure('cluster-worker-scale', {
            workers: '3 → 4 → 3',
            consumerGroups: projections.length,
            readStore: 'second Postgres cluster',
            acknowledged: figures.acknowledged,
            lost: figures.lost,
            appliedTwice: figures.appliedTwice,
            duplicatesOnTopic: figures.duplicatesOnTopic,
            rebalancedOnAddIn: addedIn,
            rebalancedOnRemoveIn: removedIn,
          });
        },
      );
    } finally {
      await readServer.destroy();
    }
  });
});
