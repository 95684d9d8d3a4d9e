import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { ensureTopics, topicWarnings } from './kafka-connection.js';
import { deadLetterTopic, orderEventsTopic, type TopicSpec } from './topics.js';

const { ConfigResourceTypes, Kafka, Partitioners, logLevel } = kafkajs;

describe('topic setup', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('topics', { partitions: 4 });
  });

  after(async () => {
    await env.dispose();
  });

  /** The topic's settings as the broker reports them. */
  async function describedConfig(topic: TopicSpec): Promise<Record<string, string>> {
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: topic.name,
            configNames: ['retention.ms', 'retention.bytes', 'cleanup.policy', 'min.insync.replicas'],
          },
        ],
      });
      return Object.fromEntries(
        described.resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]),
      );
    } finally {
      await admin.disconnect();
    }
  }

  it('creates the order topic with the configured partitions, keeps everything forever and sets min.insync.replicas', async () => {
    const topic = orderEventsTopic(env.config);
    await ensureTopics(env.kafka, [topic]); // a second call leaves the existing topic alone
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic.name] });
      assert.equal(metadata.topics[0]?.partitions.length, 4);
    } finally {
      await admin.disconnect();
    }
    assert.equal(env.config.kafka.minInsyncReplicas, undefined, 'by the cluster: 1 on one broker');
    assert.deepEqual(await describedConfig(topic), {
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'min.insync.replicas': '1',
    });
  });

  it('creates the dead-letter topic as durable as the log', async () => {
    const topic = deadLetterTopic(env.config);
    await ensureTopics(env.kafka, [topic]);
    assert.deepEqual(await describedConfig(topic), {
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'min.insync.replicas': '1',
    });
  });

  it('refuses a configured min.insync.replicas above the replicas the cluster can hold, creating nothing', async () => {
    const config = { ...env.config, kafka: { ...env.config.kafka, minInsyncReplicas: 2 } };
    const topic = { ...deadLetterTopic(config), name: `${env.config.kafka.ordersTopic}.strict` };
    await assert.rejects(
      ensureTopics(env.kafka, [topic]),
      /min\.insync\.replicas 2 \(KAFKA_MIN_INSYNC_REPLICAS\) exceeds the 1 replica\(s\) a cluster of 1 broker\(s\) can hold/,
    );
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      assert.equal((await admin.listTopics()).includes(topic.name), false);
    } finally {
      await admin.disconnect();
    }
  });

  it('reports an existing topic weaker than configured, setting by setting, and leaves it as it is', async () => {
    const topic = { ...orderEventsTopic(env.config), name: `${env.config.kafka.ordersTopic}.weak`, partitions: 4 };
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: topic.name,
            numPartitions: 2,
            configEntries: [
              { name: 'retention.ms', value: '86400000' },
              { name: 'cleanup.policy', value: 'compact' },
            ],
          },
        ],
      });
      await ensureTopics(env.kafka, [topic]);
      const warnings = topicWarnings.get(topic.name) ?? [];
      assert.equal(warnings.length, 3, warnings.join('\n'));
      assert.match(warnings[0] ?? '', /^retention\.ms 86400000, weaker than -1/);
      assert.match(warnings[1] ?? '', /^cleanup\.policy compact, weaker than delete/);
      assert.match(warnings[2] ?? '', /^2 partitions, not the 4 configured/);
      const described = await describedConfig(topic);
      assert.equal(described['retention.ms'], '86400000', 'never changed silently');
      assert.equal(described['cleanup.policy'], 'compact');
    } finally {
      topicWarnings.delete(topic.name);
      await admin.deleteTopics({ topics: [topic.name] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('returns only once every partition of a topic it created is served: a produce without retries succeeds on each', async () => {
    const topic = { ...orderEventsTopic(env.config), name: `${env.config.kafka.ordersTopic}.fresh`, partitions: 8 };
    await ensureTopics(env.kafka, [topic]);
    const kafka = new Kafka({
      clientId: env.config.kafka.clientId,
      brokers: [...env.config.kafka.brokers],
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    const admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    try {
      const acknowledged = await producer.send({
        topic: topic.name,
        acks: -1,
        messages: Array.from({ length: topic.partitions }, (_, partition) => ({ partition, value: 'x' })),
      });
      assert.deepEqual(
        acknowledged.map((record) => record.partition).sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7],
      );
    } finally {
      await admin.deleteTopics({ topics: [topic.name] }).catch(() => undefined);
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
  });
});
