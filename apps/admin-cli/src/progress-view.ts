import cliProgress, { type MultiBar, type SingleBar } from 'cli-progress';

import type { ReplayProgressSnapshot } from '@app/projections';

const BAR_WIDTH = 24;

/** One projection's progress as two lines: a bar with the figures, then where each partition stands. */
export function renderProgress(projection: string, progress: ReplayProgressSnapshot, nameWidth: number): string[] {
  const ratio = progress.eventsTotal === 0 ? 1 : progress.eventsDone / progress.eventsTotal;
  const filled = Math.round(ratio * BAR_WIDTH);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
  const eta = progress.etaSeconds === null ? '--' : formatSeconds(progress.etaSeconds);
  const figures = [
    `${(ratio * 100).toFixed(0).padStart(3)}%`,
    `${count(progress.eventsDone)}/${count(progress.eventsTotal)} events`,
    `${count(progress.eventsPerSecond)} events/s`,
    `ETA ${eta}`,
    `${formatSeconds(progress.elapsedSeconds)} elapsed`,
    progress.phase,
  ];
  const partitions = progress.partitions
    .map(({ partition, offset, target }) => `p${String(partition)} ${count(offset)}/${count(target)}`)
    .join('  ');
  return [`${projection.padEnd(nameWidth)} [${bar}] ${figures.join('  ')}`, `${' '.repeat(nameWidth)}  ${partitions}`];
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${String(minutes)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`
    : `${String(Math.floor(minutes / 60))}h${String(minutes % 60).padStart(2, '0')}m`;
}

function count(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** What each cli-progress bar of the display draws: a line rendered by renderProgress. */
interface Drawn {
  readonly line: string;
}

/**
 * One block per projection (renderProgress's two lines), kept at the bottom of a terminal by
 * cli-progress's MultiBar: redrawn in place at most 10 times a second, with line wrapping off (a
 * line longer than the terminal is cut, never wrapped, so a redraw never leaves rows behind) and the
 * cursor hidden until `stop`. Not a terminal (a CI log, a pipe): every block every 2 s, and once more
 * at `stop`.
 */
export class ProgressDisplay {
  private readonly bars: MultiBar;
  private readonly blocks = new Map<string, { figures: SingleBar; partitions: SingleBar }>();
  private readonly nameWidth: number;
  private stopped = false;

  constructor(
    projections: readonly string[],
    private readonly out: NodeJS.WriteStream,
  ) {
    this.nameWidth = Math.max(...projections.map((name) => name.length));
    this.bars = new cliProgress.MultiBar({
      stream: out,
      format: (_options: unknown, _params: unknown, payload: Drawn) => payload.line,
      fps: 10,
      hideCursor: true,
      linewrap: false,
      noTTYOutput: true,
      notTTYSchedule: 2_000,
      forceRedraw: true,
    });
  }

  update(projection: string, progress: ReplayProgressSnapshot): void {
    if (this.stopped) return;
    const [figures = '', partitions = ''] = renderProgress(projection, progress, this.nameWidth);
    const block = this.blocks.get(projection);
    if (!block) {
      this.blocks.set(projection, {
        figures: this.bars.create(progress.eventsTotal, progress.eventsDone, { line: figures }),
        partitions: this.bars.create(progress.eventsTotal, progress.eventsDone, { line: partitions }),
      });
      return;
    }
    for (const [bar, line] of [
      [block.figures, figures],
      [block.partitions, partitions],
    ] as const) {
      bar.setTotal(progress.eventsTotal);
      bar.update(progress.eventsDone, { line });
    }
  }

  /** Prints a line above the blocks, which stay at the bottom; after `stop`, below them. */
  log(line: string): void {
    if (this.stopped) this.out.write(`${line}\n`);
    else this.bars.log(`${line}\n`);
  }

  /** Draws each block a last time, shows the cursor again and lets the process exit. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bars.stop();
  }
}
