import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

function repositoryRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'kafka.sh'))) return dir;
    if (dirname(dir) === dir) throw new Error('scripts/kafka.sh not found');
  }
}

interface ToolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `npm run kafka -- <args>` as an operator types it; resolves with the exit code, never rejects on one. */
function npmRunKafka(...args: readonly string[]): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      ['run', '--silent', 'kafka', '--', ...args],
      { cwd: repositoryRoot(), timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : undefined;
        if (code === undefined) reject(error ?? new Error('no exit code'));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Lines of a tool's table whose columns start with `prefix`, split on runs of spaces. */
function rows(output: string, ...prefix: readonly string[]): string[][] {
  return output
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((columns) => prefix.every((value, index) => columns[index] === value));
}

/**
 * Kafka's own tools through `npm run kafka`, against the configured broker: a topic and a consumer
 * group of this file's own, with known offsets, read back by each tool. One JVM per call, so a few calls.
 */
describe('npm run kafka -- <tool>', () => {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const suffix = `${process.env.TEST_RUN_ID ?? 'local'}.${randomBytes(3).toString('hex')}`;
  const topic = `tools.${suffix}`;
  const group = `tools-group.${suffix}`;
  const kafka = new Kafka({ clientId: 'kafka-tools-test', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();

  before(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    try {
      // Five records on partition 0, three on partition 1.
      const messages = [0, 0, 0, 0, 0, 1, 1, 1].map((partition, index) => ({ partition, value: `v${String(index)}` }));
      await producer.send({ topic, messages });
    } finally {
      await producer.disconnect();
    }
    // A group that has read two records of partition 0 and all of partition 1: lag 3 and 0.
    await admin.setOffsets({
      groupId: group,
      topic,
      partitions: [
        { partition: 0, offset: '2' },
        { partition: 1, offset: '3' },
      ],
    });
  });

  after(async () => {
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('lists the tools with --help', async () => {
    const { code, stdout } = await npmRunKafka('--help');
    assert.equal(code, 0);
    for (const tool of ['topics', 'consumer-groups', 'configs', 'get-offsets', 'delete-records'])
      assert.match(stdout, new RegExp(`^  ${tool} `, 'm'));
  });

  it('refuses an unknown tool with exit 2, naming the tools', async () => {
    const { code, stdout, stderr } = await npmRunKafka('no-such-tool', '--list');
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      /no tool 'no-such-tool'; the tools are: topics, consumer-groups, configs, get-offsets, delete-records/,
    );
  });

  it('topics: lists the topic and describes its partitions', async () => {
    const list = await npmRunKafka('topics', '--list');
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.split('\n').includes(topic), list.stdout);

    const described = await npmRunKafka('topics', '--describe', '--topic', topic);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, new RegExp(`Topic: ${topic.replaceAll('.', '\\.')}\\s.*PartitionCount: 2`));
    assert.equal(rows(described.stdout, 'Topic:', topic, 'Partition:').length, 2, described.stdout);
  });

  it("consumer-groups: shows the group's offsets and lag per partition", async () => {
    const { code, stdout, stderr } = await npmRunKafka('consumer-groups', '--describe', '--group', group);
    assert.equal(code, 0, stderr);
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    const byPartition = rows(stdout, group, topic)
      .map((columns) => columns.slice(2, 6))
      .sort();
    assert.deepEqual(byPartition, [
      ['0', '2', '5', '3'],
      ['1', '3', '3', '0'],
    ]);
  });

  it('get-offsets: answers the end offset of each partition', async () => {
    const { code, stdout, stderr } = await npmRunKafka('get-offsets', '--topic', topic);
    assert.equal(code, 0, stderr);
    assert.deepEqual(stdout.trim().split('\n').sort(), [`${topic}:0:5`, `${topic}:1:3`]);
  });

  it("configs: describes the topic's settings", async () => {
    const { code, stdout, stderr } = await npmRunKafka(
      'configs',
      '--describe',
      '--all',
      '--entity-type',
      'topics',
      '--entity-name',
      topic,
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`All configs for topic ${topic.replaceAll('.', '\\.')} are:`));
    assert.match(stdout, /^\s+retention\.ms=/m);
  });

  it('delete-records: removes a prefix of a partition, and get-offsets then starts after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kafka-tools-'));
    try {
      const file = join(dir, 'offsets.json');
      writeFileSync(file, JSON.stringify({ version: 1, partitions: [{ topic, partition: 0, offset: 2 }] }));
      const deleted = await npmRunKafka('delete-records', '--offset-json-file', file);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.match(deleted.stdout, new RegExp(`partition: ${topic.replaceAll('.', '\\.')}-0\\s+low_watermark: 2`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const earliest = await npmRunKafka('get-offsets', '--topic', topic, '--partitions', '0', '--time', '-2');
    assert.equal(earliest.code, 0, earliest.stderr);
    assert.equal(earliest.stdout.trim(), `${topic}:0:2`);
  });

  it("passes a tool's own failure through as its exit code", async () => {
    const { code, stderr } = await npmRunKafka('topics', '--describe', '--topic', `${topic}.missing`);
    assert.equal(code, 1);
    assert.match(stderr, /does not exist/);
  });
});
