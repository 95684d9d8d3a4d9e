import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ReplayProgress } from './replay-progress.js';

describe('replay progress', () => {
  const targets = new Map([
    [0, 1_000],
    [1, 3_000],
  ]);

  it('counts events up to the high-water marks, with a rate over the last seconds and an ETA', () => {
    const progress = new ReplayProgress(targets, 0);
    progress.enter('filling');
    assert.equal(progress.snapshot(0).etaSeconds, null);
    progress.applied(0, 500);
    progress.applied(1, 500);
    const snapshot = progress.snapshot(1_000);
    assert.deepEqual(
      {
        done: snapshot.eventsDone,
        total: snapshot.eventsTotal,
        rate: snapshot.eventsPerSecond,
        eta: snapshot.etaSeconds,
        phase: snapshot.phase,
      },
      { done: 1_000, total: 4_000, rate: 1_000, eta: 3, phase: 'filling' },
    );
    assert.deepEqual(snapshot.partitions, [
      { partition: 0, offset: 500, target: 1_000 },
      { partition: 1, offset: 500, target: 3_000 },
    ]);
  });

  it('is done when every partition reached its mark, and never counts past the marks or backwards', () => {
    const progress = new ReplayProgress(targets, 0);
    progress.applied(0, 1_200); // caught up past the mark with new events
    progress.applied(1, 3_000);
    progress.applied(1, 2_000); // a stale outcome changes nothing
    assert.equal(progress.reachedTargets(), true);
    const snapshot = progress.snapshot(2_000);
    assert.equal(snapshot.eventsDone, 4_000);
    assert.equal(snapshot.etaSeconds, 0);
  });

  it('is not done while a partition is short of its mark', () => {
    const progress = new ReplayProgress(targets, 0);
    progress.applied(0, 1_000);
    progress.applied(1, 2_999);
    assert.equal(progress.reachedTargets(), false);
  });
});
