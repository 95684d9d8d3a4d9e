import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import kafkajs from 'kafkajs';

import {
  ClusterProbe,
  KafkaConnection,
  deadLetterTopic,
  ensureTopics,
  orderEventsTopic,
  topicWarnings,
} from '@app/messaging';
import { loadConfig } from '@app/platform';

import { eventually } from './eventually.js';
import { freePorts } from './free-port.js';
import { processAlive } from './process-state.js';

const { ConfigResourceTypes, Kafka, logLevel } = kafkajs;
const run = promisify(execFile);

function repositoryRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'kafka.sh'))) return dir;
    if (dirname(dir) === dir) throw new Error('scripts/kafka.sh not found');
  }
}

/**
 * `KAFKA_NODES=3 scripts/kafka.sh start`: three KRaft nodes from the same Maven Central jars, on ports
 * of their own (never the shared broker's), replicating what they create three times with two in sync.
 */
describe('a three-node cluster from scripts/kafka.sh', () => {
  const script = join(repositoryRoot(), 'scripts', 'kafka.sh');
  const cache = process.env.KAFKA_CACHE_DIR ?? join(repositoryRoot(), '.cache', 'kafka');
  let base = 0;
  let brokers: string[] = [];
  const env = () => ({
    ...process.env,
    KAFKA_NODES: '3',
    KAFKA_BROKERS: `127.0.0.1:${String(base)}`,
    KAFKA_CACHE_DIR: cache,
    KAFKA_HEAP_OPTS: '-Xms128m -Xmx320m',
  });
  const kafka = (): kafkajs.Kafka =>
    new Kafka({ clientId: 'cluster-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
  const pidOf = (node: number): number =>
    Number(readFileSync(join(cache, `cluster3-${String(base)}`, `node${String(node)}`, 'kafka.pid'), 'utf8'));

  before(async () => {
    base = await freePorts(6); // three client ports, each with its controller port after it
    brokers = [0, 2, 4].map((offset) => `127.0.0.1:${String(base + offset)}`);
    await run('bash', [script, 'start'], { env: env(), timeout: 180_000 });
  });

  after(async () => {
    await run('bash', [script, 'stop'], { env: env(), timeout: 60_000 }).catch(() => undefined);
    rmSync(join(cache, `cluster3-${String(base)}`), { recursive: true, force: true });
  });

  it('starts three brokers that each answer and see one another', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      assert.deepEqual(cluster.brokers.map((broker) => broker.nodeId).sort(), [1, 2, 3]);
    } finally {
      await admin.disconnect();
    }
  });

  it('replicates a topic three times with two in sync, keeps taking acks=all writes with a node killed, and heals it on start', async () => {
    const client = kafka();
    // What the worker's kafka_partition_* gauges are made of (apps/projection-worker/src/cluster-metrics.ts).
    const probe = new ClusterProbe(
      new KafkaConnection(loadConfig({ KAFKA_BROKERS: brokers.join(',') }).kafka),
      'probe',
    );
    const underReplicated = async (): Promise<number> =>
      (await probe.probe(['replicated'])).topics[0]?.partitions.filter((p) => p.inSyncReplicas < p.replicas).length ??
      -1;
    const admin = client.admin();
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([admin.connect(), producer.connect()]);
    try {
      await admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: 3 }], waitForLeaders: true });
      const { resources } = await admin.describeConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: 'replicated', configNames: ['min.insync.replicas'] }],
        includeSynonyms: false,
      });
      assert.equal(resources[0]?.configEntries[0]?.configValue, '2');
      const inSync = async (): Promise<number[][]> =>
        (await admin.fetchTopicMetadata({ topics: ['replicated'] })).topics[0]?.partitions.map((p) =>
          [...p.isr].sort(),
        ) ?? [];
      await eventually(async () => {
        assert.deepEqual(await inSync(), [
          [1, 2, 3],
          [1, 2, 3],
          [1, 2, 3],
        ]);
      });

      const killed = pidOf(2);
      process.kill(killed, 'SIGKILL');
      await eventually(() => {
        assert.equal(processAlive(killed), false);
      });
      const messages = Array.from({ length: 30 }, (_, index) => ({ key: `k${String(index)}`, value: 'v' }));
      await producer.send({ topic: 'replicated', acks: -1, messages }); // two of three in sync is enough
      await eventually(
        async () => {
          assert.equal(await underReplicated(), 3, 'every partition is under-replicated while node 2 is down');
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );

      await run('bash', [script, 'start'], { env: env(), timeout: 180_000 });
      assert.notEqual(pidOf(2), killed, 'start restarted the missing node');
      await eventually(
        async () => {
          assert.deepEqual(await inSync(), [
            [1, 2, 3],
            [1, 2, 3],
            [1, 2, 3],
          ]);
        },
        {
          timeoutMs: 60_000,
        },
      );
      await eventually(async () => {
        assert.equal(await underReplicated(), 0);
        const { logSizes } = await probe.probe(['replicated']);
        // Each broker reports the size of its own replica of each of the three partitions.
        assert.equal(logSizes.length, 9, JSON.stringify(logSizes));
        const written = new Set(logSizes.filter((size) => size.bytes > 0).map((size) => size.partition));
        assert.ok(written.size >= 1, 'the records written show as log size');
      });
    } finally {
      await Promise.all([producer.disconnect(), admin.disconnect(), probe.close()]);
    }
  });

  it('creates the log and its dead letters from the topic registry with three replicas, two in sync, and finds nothing weaker', async () => {
    const config = loadConfig({ KAFKA_BROKERS: brokers.join(','), ORDERS_TOPIC: 'cluster.orders.events' });
    const connection = new KafkaConnection(config.kafka);
    const topics = [orderEventsTopic(config), deadLetterTopic(config)];
    await ensureTopics(connection, topics);
    await ensureTopics(connection, topics); // again: they exist now, and match
    const admin = kafka().admin();
    await admin.connect();
    try {
      for (const topic of topics) {
        const partitions = (await admin.fetchTopicMetadata({ topics: [topic.name] })).topics[0]?.partitions ?? [];
        assert.equal(partitions.length, topic.partitions);
        assert.ok(
          partitions.every((partition) => partition.replicas.length === 3),
          `${topic.name}: ${JSON.stringify(partitions.map((p) => p.replicas))}`,
        );
        const { resources } = await admin.describeConfigs({
          resources: [{ type: ConfigResourceTypes.TOPIC, name: topic.name, configNames: ['min.insync.replicas'] }],
          includeSynonyms: false,
        });
        assert.equal(resources[0]?.configEntries[0]?.configValue, '2', topic.name);
        assert.equal(topicWarnings.get(topic.name), undefined);
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('stops every node it started', async () => {
    const pids = [1, 2, 3].map(pidOf);
    await run('bash', [script, 'stop'], { env: env(), timeout: 60_000 });
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${String(pid)} still runs`);
  });
});
