import type { BatchHandler, BatchOutcome, PartitionBatch } from '@app/messaging';

import { partitionKey } from './offset-locks.js';
import type { ProjectionRunner } from './projection-runner.js';

/** A batch handed over and waiting for its group's transaction. */
interface Waiting {
  readonly batch: PartitionBatch;
  readonly resolve: (outcome: BatchOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/** At most this many records in one group's transaction; a batch larger than that goes alone. */
export const MAX_GROUP_RECORDS = 5_000;

/**
 * Applies the partition batches the consumer hands over at once (a fetch's partitions, up to
 * `PROJECTION_CONCURRENT_PARTITIONS`) in one transaction, where a transaction per batch repeats its
 * fixed cost (the offset lock, the streams' states, the versions, the commit) for a record or two
 * under live load. A group commit: batches that arrive while a group's transaction runs form the next
 * group, which starts when it ends; one group at a time per projection, so one connection.
 *
 * A group holds at most one batch per partition (a partition's next batch waits for the next group,
 * so it follows on from the stored offset the first one leaves). How a group is applied, and how one
 * batch's failure is kept from the others, is ProjectionRunner.handleBatches.
 */
export class PartitionGroups implements BatchHandler {
  private waiting: Waiting[] = [];
  /**
   * Partitions whose last batch failed (a log behind the read model, an error that repeats): their
   * next batch goes in a group of its own, so that the others are not held back by it every time.
   */
  private readonly failing = new Set<string>();
  private running = false;
  private scheduled = false;

  constructor(
    private readonly runner: Pick<ProjectionRunner, 'handleBatches' | 'storedOffsets'>,
    private readonly maxRecords = MAX_GROUP_RECORDS,
  ) {}

  storedOffsets(topic: string, partitions: readonly number[]): Promise<ReadonlyMap<number, string>> {
    return this.runner.storedOffsets(topic, partitions);
  }

  handleBatch(batch: PartitionBatch): Promise<BatchOutcome> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ batch, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Starts the next group once the current one is done, after the batches handed over in the same
   * turn of the event loop as this one have joined it (the consumer hands a fetch's batches over together).
   */
  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.runGroup();
    });
  }

  private async runGroup(): Promise<void> {
    if (this.running) return;
    const group = this.takeGroup();
    if (group.length === 0) return;
    this.running = true;
    try {
      const settled = await this.runner.handleBatches(group.map(({ batch }) => batch));
      group.forEach(({ batch, resolve, reject }, index) => {
        const result = settled[index];
        if (result?.status === 'fulfilled') {
          this.failing.delete(partitionKey(batch));
          resolve(result.value);
        } else {
          this.failing.add(partitionKey(batch));
          reject(result ? result.reason : new Error('a batch of the group was left without an outcome'));
        }
      });
    } catch (error) {
      for (const { batch, reject } of group) {
        this.failing.add(partitionKey(batch));
        reject(error);
      }
    } finally {
      this.running = false;
      if (this.waiting.length > 0) this.schedule();
    }
  }

  /**
   * The waiting batches in the order they came, one per partition, up to maxRecords (but at least
   * one); a batch of a partition that failed last time alone.
   */
  private takeGroup(): Waiting[] {
    const group: Waiting[] = [];
    const rest: Waiting[] = [];
    const partitions = new Set<string>(); // taken or left: a partition's later batches wait for its earlier ones
    let records = 0;
    let alone = false;
    for (const waiting of this.waiting) {
      const key = partitionKey(waiting.batch);
      const size = waiting.batch.records.length;
      const suspect = this.failing.has(key);
      const fits = group.length === 0 || (!alone && !suspect && records + size <= this.maxRecords);
      if (partitions.has(key) || !fits) rest.push(waiting);
      else {
        records += size;
        alone = suspect;
        group.push(waiting);
      }
      partitions.add(key);
    }
    this.waiting = rest;
    return group;
  }
}
