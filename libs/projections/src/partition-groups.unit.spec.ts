import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { BatchOutcome, PartitionBatch } from '@app/messaging';

import { PartitionGroups } from './partition-groups.js';

function batch(partition: number, records = 1, topic = 'orders.events'): PartitionBatch {
  return {
    topic,
    partition,
    records: Array.from({ length: records }, (_, index) => ({
      topic,
      partition,
      offset: String(index),
      key: null,
      value: null,
      headers: {},
    })),
    fetchedFrom: '0',
    lastOffset: String(records - 1),
    highWatermark: String(records),
    logEnd: () => Promise.resolve(String(records)),
    logStart: () => Promise.resolve('0'),
    heartbeat: () => Promise.resolve(),
  };
}

/** A runner that records each group it is handed and answers when the test lets it. */
class RecordingRunner {
  readonly groups: string[][] = [];
  private readonly pending: (() => void)[] = [];
  running = 0;
  maxRunning = 0;

  storedOffsets(): Promise<ReadonlyMap<number, string>> {
    return Promise.resolve(new Map());
  }

  async handleBatches(batches: readonly PartitionBatch[]): Promise<PromiseSettledResult<BatchOutcome>[]> {
    this.groups.push(batches.map((b) => `${String(b.partition)}:${String(b.records.length)}`));
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise<void>((resolve) => this.pending.push(resolve));
    this.running--;
    return batches.map((b) =>
      b.partition === 13
        ? { status: 'rejected', reason: new Error(`partition ${String(b.partition)} failed`) }
        : { status: 'fulfilled', value: { kind: 'applied', nextOffset: `${String(b.partition)}:${b.lastOffset}` } },
    );
  }

  /** Lets the oldest group's transaction end, once one has started. */
  async finishOne(): Promise<void> {
    while (this.pending.length === 0) await new Promise((resolve) => setImmediate(resolve));
    this.pending.shift()?.();
  }
}

describe('PartitionGroups', () => {
  it('applies the batches handed over together as one group, and gives each its own outcome', async () => {
    const runner = new RecordingRunner();
    const groups = new PartitionGroups(runner);
    const outcomes = Promise.all([0, 1, 2].map((partition) => groups.handleBatch(batch(partition))));
    await runner.finishOne();
    assert.deepEqual(await outcomes, [
      { kind: 'applied', nextOffset: '0:0' },
      { kind: 'applied', nextOffset: '1:0' },
      { kind: 'applied', nextOffset: '2:0' },
    ]);
    assert.deepEqual(runner.groups, [['0:1', '1:1', '2:1']]);
  });

  it('runs one group at a time; what arrives meanwhile forms the next, a partition at most once per group', async () => {
    const runner = new RecordingRunner();
    const groups = new PartitionGroups(runner);
    const first = groups.handleBatch(batch(0));
    await new Promise((resolve) => setImmediate(resolve)); // the first group has started
    const later = [groups.handleBatch(batch(1)), groups.handleBatch(batch(1, 2)), groups.handleBatch(batch(2))];
    await runner.finishOne();
    await first;
    await runner.finishOne();
    await runner.finishOne();
    await Promise.all(later);
    assert.deepEqual(runner.groups, [['0:1'], ['1:1', '2:1'], ['1:2']]);
    assert.equal(runner.maxRunning, 1);
  });

  it('rejects only the batches whose partition failed', async () => {
    const runner = new RecordingRunner();
    const groups = new PartitionGroups(runner);
    const healthy = groups.handleBatch(batch(12));
    const failing = groups.handleBatch(batch(13));
    await runner.finishOne();
    assert.deepEqual(await healthy, { kind: 'applied', nextOffset: '12:0' });
    await assert.rejects(failing, /partition 13 failed/);
  });

  it('gives a partition whose last batch failed a group of its own, so that it holds back no other', async () => {
    const runner = new RecordingRunner();
    const groups = new PartitionGroups(runner);
    const first = [groups.handleBatch(batch(12)), groups.handleBatch(batch(13))];
    await runner.finishOne();
    await Promise.allSettled(first);
    const second = [groups.handleBatch(batch(14)), groups.handleBatch(batch(13)), groups.handleBatch(batch(15))];
    await runner.finishOne();
    await runner.finishOne();
    const [fourteen, thirteen, fifteen] = await Promise.allSettled(second);
    assert.deepEqual(runner.groups, [['12:1', '13:1'], ['14:1', '15:1'], ['13:1']]);
    assert.equal(fourteen?.status, 'fulfilled');
    assert.equal(thirteen?.status, 'rejected');
    assert.equal(fifteen?.status, 'fulfilled');
  });

  it('keeps a group under its record limit, a larger batch alone, and a partition behind its earlier batch', async () => {
    const runner = new RecordingRunner();
    const groups = new PartitionGroups(runner, 10);
    const all = Promise.all([
      groups.handleBatch(batch(0, 6)),
      groups.handleBatch(batch(1, 6)),
      groups.handleBatch(batch(2, 3)),
      groups.handleBatch(batch(1, 1)),
      groups.handleBatch(batch(3, 20)),
    ]);
    for (let group = 0; group < 4; group++) await runner.finishOne();
    await all;
    assert.deepEqual(runner.groups, [['0:6', '2:3'], ['1:6'], ['1:1'], ['3:20']]);
  });
});
