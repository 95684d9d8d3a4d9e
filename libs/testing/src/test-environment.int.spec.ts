import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { AppProcess } from './app-process.js';
import { eventually } from './eventually.js';
import { readTopic, readTopicToEnd } from './kafka-reader.js';
import { createTestEnvironment, type TestEnvironment } from './test-environment.js';

/** Consumer groups and topics on the broker, now. */
async function onBroker(env: TestEnvironment): Promise<{ groups: string[]; topics: string[] }> {
  const admin = env.kafka.admin();
  await admin.connect();
  try {
    const [{ groups }, topics] = await Promise.all([admin.listGroups(), admin.listTopics()]);
    return { groups: groups.map((group) => group.groupId), topics };
  } finally {
    await admin.disconnect();
  }
}

describe('a test environment leaves nothing on the broker', () => {
  let env: TestEnvironment;
  let worker: AppProcess | undefined;
  let disposed = false;

  before(async () => {
    env = await createTestEnvironment('leftovers');
  });

  after(async () => {
    await worker?.stop('SIGKILL');
    if (!disposed) await env.dispose();
  });

  it('deletes every consumer group under its prefix, even one whose member was killed, and its topics', async () => {
    const prefix = env.config.kafka.groupPrefix;
    const topic = env.config.kafka.ordersTopic;
    const ours = (groups: readonly string[]): string[] =>
      groups.filter((group) => group.startsWith(prefix) || group.includes(topic)).sort();

    // The readers delete their throwaway groups themselves.
    await readTopic(env.kafka, topic, () => true);
    await readTopicToEnd(env.kafka, topic);
    assert.deepEqual(ours((await onBroker(env)).groups), [], 'no reader group remains');

    // A projection worker joins one group per projection, and is killed: its member stays until its session expires.
    worker = new AppProcess('projection-worker', env.config);
    await worker.ready;
    const joined = await eventually(
      async () => {
        const groups = ours((await onBroker(env)).groups);
        assert.ok(groups.length >= 3, `the worker's groups: ${groups.join(', ')}`);
        return groups;
      },
      { timeoutMs: 30_000 },
    );
    await worker.stop('SIGKILL');
    worker = undefined;

    await env.dispose();
    disposed = true;

    const left = await onBroker(env);
    assert.deepEqual(ours(left.groups), [], `groups left of ${joined.join(', ')}`);
    assert.deepEqual(
      left.topics.filter((name) => name.startsWith(topic)),
      [],
      'the topic and its dead-letter topic are deleted',
    );
  });
});
