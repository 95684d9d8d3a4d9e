import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ReplayProgressSnapshot } from '@app/projections';

import { ProgressDisplay, formatSeconds, renderProgress } from './progress-view.js';

/** A stream that keeps what is written; a terminal 160 columns wide when `tty`. */
function screen(tty: boolean): NodeJS.WriteStream & { written: string } {
  const stream = {
    written: '',
    isTTY: tty,
    columns: 160,
    write(chunk: string): boolean {
      stream.written += chunk;
      return true;
    },
  };
  return stream as unknown as NodeJS.WriteStream & { written: string };
}

const halfway: ReplayProgressSnapshot = {
  phase: 'filling',
  eventsDone: 500,
  eventsTotal: 1_000,
  eventsPerSecond: 250,
  etaSeconds: 2,
  elapsedSeconds: 2,
  partitions: [{ partition: 0, offset: 500, target: 1_000 }],
};
const done: ReplayProgressSnapshot = {
  ...halfway,
  phase: 'done',
  eventsDone: 1_000,
  etaSeconds: 0,
  partitions: [{ partition: 0, offset: 1_000, target: 1_000 }],
};

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

  describe('the display (cli-progress)', () => {
    it("draws each projection's block on a terminal, keeps lines from wrapping, and shows the cursor again at stop", () => {
      const terminal = screen(true);
      const display = new ProgressDisplay(['order-view', 'sales'], terminal);
      display.update('order-view', halfway);
      display.update('sales', halfway);
      display.update('order-view', done);
      display.stop();
      const [figures, partitions] = renderProgress('order-view', done, 10);
      assert.ok(terminal.written.includes(figures ?? '-'), terminal.written);
      assert.ok(terminal.written.includes(partitions ?? '-'));
      assert.ok(terminal.written.includes(renderProgress('sales', halfway, 10)[0] ?? '-'));
      assert.ok(terminal.written.includes('\x1b[?7l'), 'line wrapping off while drawing');
      assert.ok(
        terminal.written.indexOf('\x1b[?25l') < terminal.written.lastIndexOf('\x1b[?25h'),
        'cursor hidden, then shown',
      );
      assert.ok(terminal.written.endsWith('\n'));
    });

    it('prints plain lines, without control sequences, when it is not a terminal; lines logged after stop follow the blocks', () => {
      const log = screen(false);
      const display = new ProgressDisplay(['order-view'], log);
      display.update('order-view', done);
      display.stop();
      display.log('order-view: rebuilt');
      assert.equal(log.written.includes('\x1b'), false, JSON.stringify(log.written));
      const lines = log.written.split('\n');
      assert.deepEqual(lines.slice(0, 2), renderProgress('order-view', done, 10));
      assert.equal(lines.at(-2), 'order-view: rebuilt');
    });
  });
});
