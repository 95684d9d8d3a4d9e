import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatSeconds, renderProgress } from './progress-view.js';

describe('replay progress view', () => {
  it('draws a bar with percent, events, events/s, ETA, elapsed time and phase, then each partition', () => {
    const lines = renderProgress(
      'sales',
      {
        phase: 'filling',
        eventsDone: 150_000,
        eventsTotal: 200_000,
        eventsPerSecond: 25_000,
        etaSeconds: 2,
        elapsedSeconds: 6,
        partitions: [
          { partition: 0, offset: 100_000, target: 100_000 },
          { partition: 1, offset: 50_000, target: 100_000 },
        ],
      },
      10,
    );
    assert.equal(
      lines[0],
      `sales      [${'█'.repeat(18)}${'░'.repeat(6)}]  75%  150,000/200,000 events  25,000 events/s  ETA 2.0s  6.0s elapsed  filling`,
    );
    assert.equal(lines[1], '            p0 100,000/100,000  p1 50,000/100,000');
  });

  it('shows an empty log as done, and an unknown ETA as --', () => {
    const [line] = renderProgress(
      'order-view',
      {
        phase: 'filling',
        eventsDone: 0,
        eventsTotal: 0,
        eventsPerSecond: 0,
        etaSeconds: null,
        elapsedSeconds: 0,
        partitions: [],
      },
      10,
    );
    assert.match(line ?? '', /100%.*ETA --/);
  });

  it('formats durations for people', () => {
    assert.deepEqual(
      [formatSeconds(3.21), formatSeconds(42), formatSeconds(125), formatSeconds(7_300)],
      ['3.2s', '42s', '2m05s', '2h01m'],
    );
  });
});
