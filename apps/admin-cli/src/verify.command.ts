import type { DataSource, EntityManager } from 'typeorm';

import type { KafkaConnection } from '@app/messaging';
import {
  compareWithSinglePass,
  formatDifference,
  projections,
  VERIFIED_PROJECTION_NAMES,
  verifyReadModels,
  withSnapshot,
  type Difference,
  type VerificationFigures,
  type VerifiedProjection,
} from '@app/projections';

import { VERIFY_EXIT, type VerifyRequest } from './verify-arguments.js';

type VerifyRun = Extract<VerifyRequest, { kind: 'verify' }>;

export interface VerifyContext {
  /** The event store's database (DATABASE_URL). */
  readonly dataSource: DataSource;
  /** The read side's (READ_DATABASE_URL): the same DataSource when both are one database. */
  readonly readDataSource: DataSource;
  readonly kafka: KafkaConnection;
  readonly ordersTopic: string;
  readonly deadLetterTopic: string;
}

export interface VerifyOutput {
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
  /** How often progress is told on stderr. */
  readonly progressEveryMs?: number;
}

/**
 * Runs a parsed verify request; returns the process's exit code. Differences go to stdout as they
 * are found, progress to stderr, and the figures last. A failure part way (the broker away) still
 * prints what was found, and answers "could not run".
 */
export async function runVerify(request: VerifyRun, context: VerifyContext, io: VerifyOutput): Promise<number> {
  let printed = 0;
  const print = (difference: Difference): void => {
    if (printed++ >= request.printLimit) return;
    io.out.write(
      request.json ? `${JSON.stringify({ difference })}\n` : `difference: ${formatDifference(difference)}\n`,
    );
  };
  let toldAt = 0;
  const started = performance.now();
  const progress = ({ phase, done, estimate }: { phase: 'store' | 'topic'; done: number; estimate: number }): void => {
    if (performance.now() - toldAt < (io.progressEveryMs ?? 2_000)) return;
    toldAt = performance.now();
    const share = estimate > 0 ? `, ${Math.min(100, Math.floor((done / estimate) * 100)).toString()}%` : '';
    io.err.write(
      phase === 'store'
        ? `verify: ${done.toLocaleString('en-US')} of ~${estimate.toLocaleString('en-US')} events folded${share}\n`
        : `verify: ${done.toLocaleString('en-US')} topic records read\n`,
    );
  };
  // The three original projections have a fold of their own here, written apart from them; any other
  // is checked against a single pass of its own code over the store (compareWithSinglePass).
  const independent = request.projections.filter((name): name is VerifiedProjection =>
    (VERIFIED_PROJECTION_NAMES as readonly string[]).includes(name),
  );
  const result = await withSnapshot(context.dataSource, context.readDataSource, (sources) =>
    verifyReadModels(sources, {
      projections: independent,
      keepDifferences: 0,
      onDifference: print,
      onInfo: (message) => io.err.write(`verify: info: ${message}\n`),
      onProgress: progress,
      ...(request.queryApi === null ? {} : { queryApi: { baseUrl: request.queryApi } }),
      ...(request.topics
        ? {
            topic: { kafka: context.kafka, ordersTopic: context.ordersTopic, deadLetterTopic: context.deadLetterTopic },
          }
        : {}),
    }),
  );
  const singlePass = await checkBySinglePass(
    context,
    request.projections.filter((name) => !independent.includes(name as VerifiedProjection)),
  );
  singlePass.forEach(print);
  const figures = { ...result.figures, differences: result.figures.differences + singlePass.length };
  if (printed > request.printLimit)
    io.out.write(
      `… ${(printed - request.printLimit).toLocaleString('en-US')} more differences not printed (--limit-differences)\n`,
    );
  io.out.write(
    request.json
      ? `${JSON.stringify({ figures })}\n`
      : `${summary(request, figures, (performance.now() - started) / 1_000)}\n`,
  );
  return figures.differences > 0 ? VERIFY_EXIT.differences : VERIFY_EXIT.agree;
}

function summary(request: VerifyRun, figures: VerificationFigures, seconds: number): string {
  const verdict =
    figures.differences === 0
      ? 'everything agrees with the event store'
      : `${figures.differences.toLocaleString('en-US')} differences`;
  const topic = request.topics
    ? `; topic: ${String(figures.topicRecords)} records, ${String(figures.missingOnTopic)} stored events missing, ${String(figures.foreignOnTopic)} foreign ` +
      `(${String(figures.knownForeignOnTopic)} known), ${String(figures.duplicatesOnTopic)} re-sent; dead letters ${String(figures.deadLetters)}`
    : '; topics not checked (--skip-topics)';
  return (
    `verify: ${verdict} (${request.projections.join(', ')}): ${String(figures.orders)} orders, ${String(figures.events)} events, ` +
    `${String(figures.customers)} customers, ${String(figures.buckets)} buckets; applied twice ${String(figures.appliedTwice)}, lost ${String(figures.lost)}, ` +
    `parked ${String(figures.parked)}${topic}; ${seconds.toFixed(1)} s`
  );
}

/**
 * Each projection's live tables against a single pass of its own code over the event store, in a
 * REPEATABLE READ transaction on the read side rolled back afterwards (the scratch generation goes
 * with it). One difference per table that disagrees, with a few of its rows.
 */
async function checkBySinglePass(context: VerifyContext, names: readonly string[]): Promise<Difference[]> {
  const differences: Difference[] = [];
  for (const projection of projections.filter(({ name }) => names.includes(name))) {
    const found = await inSnapshots(context, (sessions) => compareWithSinglePass(sessions, projection));
    for (const table of found) {
      differences.push({
        projection: table.projection,
        table: table.table,
        key: '(rows)',
        field: 'single pass over the event store',
        expected: `${String(table.missing)} rows missing`,
        found: `${String(table.unexpected)} rows unexpected: ${table.examples.join(' ')}`,
      });
    }
  }
  return differences;
}

/**
 * A REPEATABLE READ transaction on the read side, and one on the store when that is another
 * database, its snapshot taken after the read side's (see withSnapshot); both rolled back.
 */
async function inSnapshots<T>(
  context: VerifyContext,
  work: (sessions: { store: EntityManager; read: EntityManager }) => Promise<T>,
): Promise<T> {
  const separate = context.readDataSource !== context.dataSource;
  const runners = [context.readDataSource, ...(separate ? [context.dataSource] : [])].map((source) =>
    source.createQueryRunner(),
  );
  try {
    for (const runner of runners) {
      await runner.connect();
      await runner.startTransaction('REPEATABLE READ');
      await runner.query('SELECT 1'); // takes the snapshot now, the read side's first
    }
    const [read, store] = runners.map((runner) => runner.manager);
    if (read === undefined) throw new Error('no read-side session');
    return await work({ store: store ?? read, read });
  } finally {
    for (const runner of runners) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  }
}
