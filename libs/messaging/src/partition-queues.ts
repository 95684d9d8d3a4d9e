/**
 * Work queued per partition: each partition's work runs in the order it was queued, at most
 * `concurrency` pieces run at once across partitions, and `whenRoom` holds whoever queues while
 * `capacity` pieces wait or run, so memory stays bounded however far reads run ahead.
 */
export class PartitionQueues {
  private readonly tails = new Map<number, Promise<void>>();
  /** Pieces queued and not finished yet. */
  private queued = 0;
  private running = 0;
  private readonly waitingToRun: (() => void)[] = [];
  private readonly waitingForRoom: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly capacity: number,
  ) {}

  /** Queues `work` behind the partition's earlier work. `work` handles its own errors: a rejection is not reported. */
  enqueue(partition: number, work: () => Promise<void>): void {
    this.queued++;
    const previous = this.tails.get(partition) ?? Promise.resolve();
    const done = previous.then(() => this.run(work)).catch(() => undefined);
    this.tails.set(partition, done);
    void done.then(() => {
      if (this.tails.get(partition) === done) this.tails.delete(partition);
      this.queued--;
      this.waitingForRoom.shift()?.();
    });
  }

  /** Settles when everything queued for the partition so far is done. */
  settled(partition: number): Promise<void> {
    return this.tails.get(partition) ?? Promise.resolve();
  }

  /** True when nothing queued for the partition waits or runs. */
  idle(partition: number): boolean {
    return !this.tails.has(partition);
  }

  /** Settles when fewer than `capacity` pieces wait or run. */
  async whenRoom(): Promise<void> {
    while (this.queued >= this.capacity) await new Promise<void>((resolve) => this.waitingForRoom.push(resolve));
  }

  /** Settles when everything queued so far is done. */
  async drained(): Promise<void> {
    await Promise.all(this.tails.values());
  }

  private async run(work: () => Promise<void>): Promise<void> {
    while (this.running >= this.concurrency) await new Promise<void>((resolve) => this.waitingToRun.push(resolve));
    this.running++;
    try {
      await work();
    } finally {
      this.running--;
      this.waitingToRun.shift()?.();
    }
  }
}
