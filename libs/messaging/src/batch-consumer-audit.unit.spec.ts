import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { eventually } from '@app/testing';

import { BatchConsumer, type BatchHandler, type PartitionBatch } from './batch-consumer.js';
import { ignoreKafkaClient, type ReadAgainReason } from './kafka-client-observer.js';
import type { KafkaConnection } from './kafka-connection.js';

const TOPIC = 'orders.events';

/** Settles when opened. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** What the consumer asks of kafkajs, by hand: the test plays the group's assignments and fetches. */
class FakeKafka {
  readonly seeks: { partition: number; offset: string }[] = [];
  /** What the consumer reported reading again (kafka_client_partitions_read_again_total). */
  readonly readsAgain: { topic: string; reason: ReadAgainReason }[] = [];
  private readonly listeners = new Map<string, (event: { payload: unknown }) => void>();
  private eachBatch: ((payload: unknown) => Promise<void>) | undefined;

  readonly consumer = {
    events: {
      GROUP_JOIN: 'group-join',
      START_BATCH_PROCESS: 'start-batch',
      FETCH: 'fetch',
      CRASH: 'crash',
    },
    on: (event: string, listener: (event: { payload: unknown }) => void) => {
      this.listeners.set(event, listener);
    },
    connect: () => Promise.resolve(),
    subscribe: () => Promise.resolve(),
    run: ({ eachBatch }: { eachBatch: (payload: unknown) => Promise<void> }) => {
      this.eachBatch = eachBatch;
      return Promise.resolve();
    },
    seek: ({ partition, offset }: { partition: number; offset: string }) => {
      this.seeks.push({ partition, offset });
    },
    commitOffsets: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
  };

  readonly connection = {
    consumer: () => this.consumer,
    observer: {
      ...ignoreKafkaClient,
      readAgain: (topic: string, reason: ReadAgainReason) => this.readsAgain.push({ topic, reason }),
    },
  } as unknown as KafkaConnection;

  assign(partitions: readonly number[]): void {
    this.listeners.get('group-join')?.({ payload: { memberAssignment: { [TOPIC]: partitions } } });
  }

  /** Hands over a fetch of `from` … `to` (inclusive) of a partition, as kafkajs' eachBatch does. */
  fetch(partition: number, from: number, to: number): Promise<void> {
    const messages = Array.from({ length: to - from + 1 }, (_, i) => ({
      offset: String(from + i),
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      headers: {},
    }));
    const batch = {
      topic: TOPIC,
      partition,
      highWatermark: String(to + 1),
      messages,
      fetchedOffset: String(from),
      firstOffset: () => String(from),
      lastOffset: () => String(to),
    };
    if (!this.eachBatch) throw new Error('not running');
    return this.eachBatch({
      batch,
      isRunning: () => true,
      isStale: () => false,
      resolveOffset: () => undefined,
      heartbeat: () => Promise.resolve(),
    });
  }

  seeksTo(offset: string): number {
    return this.seeks.filter((seek) => seek.offset === offset).length;
  }
}

/**
 * A store in memory: handled batches move it, `store` sets it by hand (a lost commit), `holdNextAnswer`
 * makes the next read of it wait and answer what the test says.
 */
class MemoryStore implements BatchHandler {
  readonly offsets = new Map<number, string>();
  reads = 0;
  holding: { asked: boolean; answer: ReturnType<typeof gate>; offsets: Map<number, string> } | undefined;
  handling: ReturnType<typeof gate> | undefined;

  async storedOffsets(_topic: string, partitions: readonly number[]): Promise<ReadonlyMap<number, string>> {
    this.reads++;
    const held = this.holding;
    if (held) {
      this.holding = undefined;
      held.asked = true;
      await held.answer.promise;
      return held.offsets;
    }
    return new Map(partitions.map((partition) => [partition, this.offsets.get(partition) ?? '0']));
  }

  async handleBatch(batch: PartitionBatch): Promise<{ kind: 'applied'; nextOffset: string }> {
    await this.handling?.promise;
    const nextOffset = (BigInt(batch.lastOffset) + 1n).toString();
    this.offsets.set(batch.partition, nextOffset);
    return { kind: 'applied', nextOffset };
  }

  /**
   * The next read of the store waits until `answer` is called, then answers `offsets`; `asked`
   * settles once it has begun. (The consumer's timers do not hold the process: the test polls.)
   */
  holdNextAnswer(offsets: Map<number, string>): { asked: Promise<void>; answer: () => void } {
    const held = { asked: false, answer: gate(), offsets };
    this.holding = held;
    const asked = eventually(
      () => {
        assert.ok(held.asked);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    return { asked, answer: held.answer.open };
  }

  /** Settles once the store has been read `more` more times: every check begun before has ended. */
  async readAgain(more = 2): Promise<void> {
    const target = this.reads + more;
    await eventually(
      () => {
        assert.ok(this.reads >= target);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
  }
}

/** A consumer checking every few milliseconds, assigned partitions 0 and 1, each read and stored up to 5. */
async function consuming(): Promise<{ kafka: FakeKafka; store: MemoryStore; consumer: BatchConsumer }> {
  const kafka = new FakeKafka();
  const store = new MemoryStore();
  const consumer = new BatchConsumer(kafka.connection, { groupId: 'g', topic: TOPIC, auditIntervalMs: 3 }, store);
  await consumer.start();
  kafka.assign([0, 1]);
  await eventually(
    () => {
      assert.equal(kafka.seeks.length, 2, 'the assignment seeks to the stored offsets');
    },
    { timeoutMs: 10_000, intervalMs: 2 },
  );
  await kafka.fetch(0, 0, 4);
  await kafka.fetch(1, 0, 4);
  return { kafka, store, consumer };
}

describe("batch consumer's check of idle partitions against the store", () => {
  it('seeks an idle partition back to a stored offset behind what it read', async () => {
    const { kafka, store, consumer } = await consuming();
    await store.readAgain();
    assert.equal(kafka.seeksTo('2'), 0);
    store.offsets.set(0, '2'); // a commit lost in a crash
    await eventually(
      () => {
        assert.deepEqual(kafka.seeks.at(-1), { partition: 0, offset: '2' });
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    await consumer.stop();
    assert.deepEqual(kafka.readsAgain, [{ topic: TOPIC, reason: 'store behind' }]);
  });

  it('leaves a partition alone while its batch is being handled', async () => {
    const { kafka, store, consumer } = await consuming();
    store.handling = gate();
    const handled = kafka.fetch(0, 5, 9);
    store.offsets.set(0, '2'); // behind what was read while the batch is under way
    await store.readAgain(); // partition 1 is still checked
    assert.equal(kafka.seeksTo('2'), 0);
    store.handling.open();
    await handled;
    await store.readAgain();
    assert.equal(kafka.seeksTo('2'), 0);
    assert.equal(store.offsets.get(0), '10');
    await consumer.stop();
    assert.deepEqual(kafka.readsAgain, []);
  });

  it('leaves a partition whose reading moved on while the store answered', async () => {
    const { kafka, store, consumer } = await consuming();
    const held = store.holdNextAnswer(
      new Map([
        [0, '3'],
        [1, '5'],
      ]),
    );
    await held.asked;
    await kafka.fetch(0, 5, 9); // applied and read past 5 while the answer (3, older than 5) is on its way
    held.answer();
    await store.readAgain();
    assert.equal(kafka.seeksTo('3'), 0);
    await consumer.stop();
  });

  it('leaves the partitions to a new assignment made while the store answered', async () => {
    const { kafka, store, consumer } = await consuming();
    const held = store.holdNextAnswer(
      new Map([
        [0, '3'],
        [1, '3'],
      ]),
    );
    await held.asked;
    kafka.assign([0, 1]); // its own seek reads the store as it is (5)
    await eventually(
      () => {
        assert.equal(kafka.seeksTo('5'), 2);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    held.answer();
    await store.readAgain();
    assert.equal(kafka.seeksTo('3'), 0);
    await consumer.stop();
  });

  it('stops after a check under way has ended', async () => {
    const { store, consumer } = await consuming();
    const held = store.holdNextAnswer(new Map());
    await held.asked;
    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stopped, false, 'stop waits for the check');
    held.answer();
    await stopping;
  });
});

describe('batch consumer reading a partition again', () => {
  /** A consumer of partition 0 whose handler answers `outcome` for every batch. */
  async function consumerOf(
    outcome: (
      batch: PartitionBatch,
    ) => Promise<{ kind: 'rewind'; offset: string } | { kind: 'applied'; nextOffset: string }>,
    readAhead?: number,
  ): Promise<{ kafka: FakeKafka; consumer: BatchConsumer }> {
    const kafka = new FakeKafka();
    const handler: BatchHandler = {
      storedOffsets: () => Promise.resolve(new Map([[0, '0']])),
      handleBatch: outcome,
    };
    const options = { groupId: 'g', topic: TOPIC, auditIntervalMs: 0, ...(readAhead ? { readAhead } : {}) };
    const consumer = new BatchConsumer(kafka.connection, options, handler);
    await consumer.start();
    kafka.assign([0]);
    await eventually(
      () => {
        assert.equal(kafka.seeks.length, 1, 'the assignment seeks to the stored offset');
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    return { kafka, consumer };
  }

  it('counts a gap the handler found before a batch', async () => {
    const { kafka, consumer } = await consumerOf(() => Promise.resolve({ kind: 'rewind', offset: '0' }));
    await kafka.fetch(0, 5, 9);
    assert.deepEqual(kafka.seeks.at(-1), { partition: 0, offset: '0' });
    await consumer.stop();
    assert.deepEqual(kafka.readsAgain, [{ topic: TOPIC, reason: 'gap' }]);
  });

  it('counts a batch read ahead that could not be applied', async () => {
    const { kafka, consumer } = await consumerOf(() => Promise.reject(new Error('the store is down')), 2);
    await kafka.fetch(0, 0, 4);
    await eventually(
      () => {
        assert.deepEqual(kafka.readsAgain, [{ topic: TOPIC, reason: 'failed' }]);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    assert.deepEqual(kafka.seeks.at(-1), { partition: 0, offset: '0' });
    await consumer.stop();
  });

  it('drops the batches queued behind one that failed: the seek reads them again', async () => {
    const failing = gate();
    const handled: string[] = [];
    const { kafka, consumer } = await consumerOf(async (batch) => {
      handled.push(batch.fetchedFrom);
      if (handled.length > 1) return { kind: 'applied', nextOffset: (BigInt(batch.lastOffset) + 1n).toString() };
      await failing.promise;
      throw new Error('the store is down');
    }, 3);
    await kafka.fetch(0, 0, 4);
    await kafka.fetch(0, 5, 9); // queued behind the first, which has not failed yet
    failing.open();
    await eventually(
      () => {
        assert.deepEqual(kafka.readsAgain, [{ topic: TOPIC, reason: 'failed' }]);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    await kafka.fetch(0, 0, 9); // what kafkajs reads after the seek, queued behind the second
    await eventually(
      () => {
        assert.equal(handled.length, 2);
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    assert.deepEqual(handled, ['0', '0'], 'the batch queued behind the failed one was dropped, not handled');
    assert.deepEqual(kafka.readsAgain, [{ topic: TOPIC, reason: 'failed' }]);
    await consumer.stop();
  });
});
