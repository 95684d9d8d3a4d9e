import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';

import { PartitionQueues } from './partition-queues.js';

/** A piece of work that finishes when the test says so. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('partition queues', () => {
  it("runs each partition's work in the order it was queued, even when a piece fails", async () => {
    const queues = new PartitionQueues(4, Infinity);
    const done: string[] = [];
    const first = gate();
    queues.enqueue(0, async () => {
      await first.promise;
      done.push('0a');
      throw new Error('failed');
    });
    queues.enqueue(0, () => Promise.resolve(void done.push('0b')));
    queues.enqueue(1, () => Promise.resolve(void done.push('1a')));
    await turn();
    first.open();
    await queues.drained();
    assert.deepEqual(done, ['1a', '0a', '0b']);
  });

  it('runs at most `concurrency` pieces at once across partitions', async () => {
    const queues = new PartitionQueues(2, Infinity);
    let running = 0;
    let most = 0;
    const gates = [gate(), gate(), gate()];
    gates.forEach((piece, partition) => {
      queues.enqueue(partition, async () => {
        running++;
        most = Math.max(most, running);
        await piece.promise;
        running--;
      });
    });
    await turn();
    assert.equal(running, 2);
    for (const piece of gates) piece.open();
    await queues.drained();
    assert.equal(most, 2);
  });

  it('holds whoever queues while `capacity` pieces wait or run', async () => {
    const queues = new PartitionQueues(1, 2);
    const gates = [gate(), gate()];
    gates.forEach((piece, partition) => {
      queues.enqueue(partition, () => piece.promise);
    });
    let roomed = false;
    void queues.whenRoom().then(() => (roomed = true));
    await turn();
    assert.equal(roomed, false);
    gates[0]?.open();
    await queues.settled(0);
    await turn();
    assert.equal(roomed, true);
    gates[1]?.open();
    await queues.drained();
  });

  it('is idle for a partition only while nothing of it waits or runs', async () => {
    const queues = new PartitionQueues(1, Infinity);
    const [first, second] = [gate(), gate()];
    queues.enqueue(0, () => first.promise);
    queues.enqueue(1, () => Promise.resolve()); // waits: one piece runs at once
    queues.enqueue(0, () => second.promise);
    assert.equal(queues.idle(0), false, 'running');
    assert.equal(queues.idle(1), false, 'waiting to run');
    assert.equal(queues.idle(2), true, 'nothing queued');
    first.open();
    await queues.settled(1);
    await turn();
    assert.equal(queues.idle(1), true, 'its only piece done');
    assert.equal(queues.idle(0), false, 'its second piece still to finish');
    second.open();
    await queues.drained();
    await turn();
    assert.equal(queues.idle(0), true);
  });
});
