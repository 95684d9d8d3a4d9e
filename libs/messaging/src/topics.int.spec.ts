import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { ensureTopics } from './kafka-connection.js';
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
    assert.equal(env.config.kafka.minInsyncReplicas, 1, 'one broker: the default');
    assert.deepEqual(await describedConfig(topic), {
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'min.insync.replicas': '1',
    });
  });

  it('creates the dead-letter topic as durable as the log, with the configured min.insync.replicas', async () => {
    // A value the broker's default (1) is not, so the test sees that the registry's setting arrives.
    const config = { ...env.config, kafka: { ...env.config.kafka, minInsyncReplicas: 2 } };
    const topic = deadLetterTopic(config);
    await ensureTopics(env.kafka, [topic]);
    assert.deepEqual(await describedConfig(topic), {
      'retention.ms': '-1',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'min.insync.replicas': '2',
    });
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
