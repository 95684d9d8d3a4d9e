import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

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
import { PrivateCluster } from './private-cluster.js';
import { processAlive } from './process-state.js';

const { ConfigResourceTypes } = kafkajs;

/**
 * `KAFKA_NODES=3 scripts/kafka.sh start`: three KRaft nodes from the same Maven Central jars, on ports
 * of their own (never the shared broker's), replicating what they create three times with two in sync.
 */
describe('a three-node cluster from scripts/kafka.sh', () => {
  let cluster: PrivateCluster | undefined;
  const started = (): PrivateCluster => {
    assert.ok(cluster, 'the cluster did not start');
    return cluster;
  };
  const kafka = (): kafkajs.Kafka => started().client();

  before(async () => {
    cluster = await PrivateCluster.start(3);
  });

  after(async () => {
    await cluster?.destroy();
  });

  it('starts three brokers that each answer and see one another', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      const described = await admin.describeCluster();
      assert.deepEqual(described.brokers.map((broker) => broker.nodeId).sort(), [1, 2, 3]);
    } finally {
      await admin.disconnect();
    }
  });

  it('replicates a topic three times with two in sync, keeps taking acks=all writes with a node killed, and heals it on start', async () => {
    const client = kafka();
    // What the worker's kafka_partition_* gauges are made of (apps/projection-worker/src/cluster-metrics.ts).
    const probe = new ClusterProbe(
      new KafkaConnection(loadConfig({ KAFKA_BROKERS: started().brokers.join(',') }).kafka),
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

      const killed = started().pidOf(2);
      await started().kill(2);
      const messages = Array.from({ length: 30 }, (_, index) => ({ key: `k${String(index)}`, value: 'v' }));
      await producer.send({ topic: 'replicated', acks: -1, messages }); // two of three in sync is enough
      await eventually(
        async () => {
          assert.equal(await underReplicated(), 3, 'every partition is under-replicated while node 2 is down');
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );

      await started().startMissing();
      assert.notEqual(started().pidOf(2), killed, 'start restarted the missing node');
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
    const config = loadConfig({ KAFKA_BROKERS: started().brokers.join(','), ORDERS_TOPIC: 'cluster.orders.events' });
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
    const pids = started().nodes.map((node) => started().pidOf(node));
    assert.equal(pids.filter((pid) => pid !== undefined).length, 3, 'three nodes run');
    await started().stop();
    for (const pid of pids)
      if (pid !== undefined) assert.equal(processAlive(pid), false, `pid ${String(pid)} still runs`);
  });
});
