/** Where one partition stands: the next offset to apply, and the log end the replay must reach. */
export interface PartitionProgress {
  readonly partition: number;
  readonly offset: number;
  readonly target: number;
}

export type RebuildPhase = 'preparing' | 'filling' | 'catching-up' | 'switching' | 'done';

/** What the CLI draws and the admin API answers; stored as JSON on the rebuild's row. */
export interface ReplayProgressSnapshot {
  readonly phase: RebuildPhase;
  /** Events up to the high-water marks taken at the start that are applied, and how many there are. */
  readonly eventsDone: number;
  readonly eventsTotal: number;
  /** Over the last few seconds. */
  readonly eventsPerSecond: number;
  /** Until the high-water marks are reached; null before a rate is known. */
  readonly etaSeconds: number | null;
  readonly elapsedSeconds: number;
  readonly partitions: readonly PartitionProgress[];
}

const RATE_WINDOW_MS = 5_000;

/**
 * Counts a replay's progress from the offsets it has applied per partition. Offsets stand for
 * events: every record on the topic is one event. Pure apart from the clock it is given.
 */
export class ReplayProgress {
  private readonly offsets = new Map<number, number>();
  private readonly samples: { at: number; applied: number }[] = [];
  private phase: RebuildPhase = 'preparing';

  constructor(
    private readonly targets: ReadonlyMap<number, number>,
    private readonly startedAt: number,
  ) {
    for (const partition of targets.keys()) this.offsets.set(partition, 0);
  }

  enter(phase: RebuildPhase): void {
    this.phase = phase;
  }

  /** The next offset applied on a partition; offsets never go back. */
  applied(partition: number, nextOffset: number): void {
    this.offsets.set(partition, Math.max(this.offsets.get(partition) ?? 0, nextOffset));
  }

  /** Whether every partition has reached the high-water mark taken at the start. */
  reachedTargets(): boolean {
    return [...this.targets].every(([partition, target]) => (this.offsets.get(partition) ?? 0) >= target);
  }

  snapshot(now: number): ReplayProgressSnapshot {
    const applied = [...this.offsets.values()].reduce((sum, offset) => sum + offset, 0);
    this.samples.push({ at: now, applied });
    while (this.samples.length > 2 && (this.samples[0]?.at ?? now) < now - RATE_WINDOW_MS) this.samples.shift();
    const oldest = this.samples[0];
    const seconds = oldest ? (now - oldest.at) / 1_000 : 0;
    const eventsPerSecond = oldest && seconds > 0 ? (applied - oldest.applied) / seconds : 0;

    const partitions = [...this.offsets]
      .map(([partition, offset]) => ({ partition, offset, target: this.targets.get(partition) ?? 0 }))
      .sort((a, b) => a.partition - b.partition);
    const eventsTotal = partitions.reduce((sum, { target }) => sum + target, 0);
    const eventsDone = partitions.reduce((sum, { offset, target }) => sum + Math.min(offset, target), 0);
    const remaining = eventsTotal - eventsDone;
    return {
      phase: this.phase,
      eventsDone,
      eventsTotal,
      eventsPerSecond: Math.round(eventsPerSecond),
      etaSeconds: remaining === 0 ? 0 : eventsPerSecond > 0 ? Math.ceil(remaining / eventsPerSecond) : null,
      elapsedSeconds: Math.round((now - this.startedAt) / 100) / 10,
      partitions,
    };
  }
}
