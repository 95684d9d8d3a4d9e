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

/**
 * Draws one block per projection: redrawn in place on a terminal, a line every few seconds
 * otherwise (a CI log, a pipe).
 */
export class ProgressDisplay {
  private readonly latest = new Map<string, ReplayProgressSnapshot>();
  private drawnLines = 0;
  private readonly lastPlainAt = new Map<string, number>();
  private readonly nameWidth: number;

  constructor(
    projections: readonly string[],
    private readonly out: NodeJS.WriteStream,
  ) {
    this.nameWidth = Math.max(...projections.map((name) => name.length));
  }

  update(projection: string, progress: ReplayProgressSnapshot): void {
    this.latest.set(projection, progress);
    if (this.out.isTTY) this.redraw();
    else if (Date.now() - (this.lastPlainAt.get(projection) ?? 0) >= 2_000 || progress.phase === 'done') {
      this.lastPlainAt.set(projection, Date.now());
      this.out.write(`${renderProgress(projection, progress, this.nameWidth).join('\n')}\n`);
    }
  }

  /** Prints a line above the bars, which stay at the bottom. */
  log(line: string): void {
    if (this.out.isTTY) this.clear();
    this.out.write(`${line}\n`);
    if (this.out.isTTY) this.redraw();
  }

  private clear(): void {
    if (this.drawnLines > 0) this.out.write(`\x1b[${String(this.drawnLines)}F\x1b[0J`);
    this.drawnLines = 0;
  }

  private redraw(): void {
    this.clear();
    const lines = [...this.latest].flatMap(([projection, progress]) =>
      renderProgress(projection, progress, this.nameWidth),
    );
    this.out.write(`${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }
}
