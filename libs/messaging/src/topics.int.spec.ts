import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { ensureTopics } from './kafka-connection.js';
import { orderEventsTopic } from './topics.js';

describe('topic setup', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('topics', { partitions: 4 });
  });

  after(async () => {
    await env.dispose();
  });

  it('creates the order topic with the configured partitions and keeps everything forever', async () => {
    const topic = orderEventsTopic(env.config);
    await ensureTopics(env.kafka, [topic]); // a second call leaves the existing topic alone
    const admin = env.kafka.admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic.name] });
      assert.equal(metadata.topics[0]?.partitions.length, 4);
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic.name, configNames: ['retention.ms', 'retention.bytes', 'cleanup.policy'] }],
      });
      const entries = Object.fromEntries(described.resources[0]!.configEntries.map((entry) => [entry.configName, entry.configValue]));
      assert.deepEqual(entries, { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' });
    } finally {
      await admin.disconnect();
    }
  });
});
