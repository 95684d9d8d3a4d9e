import { compareBuckets, compareCustomers, Aggregates } from './compare-aggregates.js';
import { compareOrderPage, compareOrphans } from './compare-orders.js';
import { compareOffsets, compareParked } from './bookkeeping.js';
import { DifferenceLog, type Difference, type VerificationFigures } from './difference.js';
import { foldOrder, type FoldedOrder } from './fold.js';
import { resolveScope, VERIFIED_PROJECTION_NAMES, type VerifiedProjection } from './scope.js';
import { OrderSample, checkQueryApi, type QueryApiCheck } from './query-api-check.js';
import { eventPages, type Sql, type VerifySources } from './sql.js';
import { checkDeadLetters, checkOrdersTopic, type TopicCheck } from './topic-check.js';

export interface VerifyOptions {
  /** The projections to check; all by default. */
  readonly projections?: readonly VerifiedProjection[];
  /** Orders' events read per page (keyset on order id): bounds memory. */
  readonly pageSize?: number;
  /** Differences kept in the result (all are counted, and each is handed to onDifference). */
  readonly keepDifferences?: number;
  readonly onDifference?: (difference: Difference) => void;
  readonly onInfo?: (message: string) => void;
  /** Told after every page: events folded so far, and the store's estimated size. */
  readonly onProgress?: (progress: { phase: 'store' | 'topic'; done: number; estimate: number }) => void;
  /** Also check the orders topic, the dead-letter topic and the offsets; without it only the database is read. */
  readonly topic?: Omit<TopicCheck, 'projections' | 'onInfo'>;
  /** Also ask the query API for a sample of orders, customers and buckets, and compare its JSON with the fold. */
  readonly queryApi?: QueryApiCheck;
}

export interface VerificationResult {
  readonly figures: VerificationFigures;
  /** The first differences, up to keepDifferences. */
  readonly differences: readonly Difference[];
}

const STORE = 'event-store';
/** Orphan rows and parked events listed per table; the rest are counted. */
const LISTED_ROWS = 10_000;

/**
 * Folds the event store from scratch and compares every read model, side table and bookkeeping
 * row of the checked projections with it; with `topic`, also the topics and the offsets. Each of
 * `sources` should hold one snapshot (a REPEATABLE READ transaction: `withSnapshot`), so that rows
 * written meanwhile do not read as differences. Used by `npm run verify` and by the tests' oracle alike.
 */
export async function verifyReadModels(
  sources: VerifySources,
  options: VerifyOptions = {},
): Promise<VerificationResult> {
  const { pageSize = 2_000, keepDifferences = 1_000 } = options;
  const { store, read } = sources;
  const log = new DifferenceLog(keepDifferences, options.onDifference);
  const scope = await resolveScope(read, options.projections ?? VERIFIED_PROJECTION_NAMES);
  const estimate = await estimatedEvents(store);
  const aggregates = new Aggregates();
  const sample = new OrderSample(options.queryApi ? (options.queryApi.sample ?? 20) : 0);

  for await (const page of eventPages(store, pageSize)) {
    const folded = new Map<string, FoldedOrder>();
    for (const events of page) {
      const orderId = events[0]?.orderId ?? '';
      log.figures.orders++;
      log.figures.events += events.length;
      const order = foldOrder(events);
      for (const problem of order.problems)
        log.add({
          projection: STORE,
          table: 'events',
          key: orderId,
          field: 'versions',
          expected: 'OrderPlaced at version 1, then 2, 3, …',
          found: problem,
        });
      if (order.view === undefined) continue;
      folded.set(orderId, order);
      aggregates.add(order);
      sample.offer(order);
    }
    await compareOrderPage(read, scope, folded, log);
    options.onProgress?.({
      phase: 'store',
      done: log.figures.events,
      estimate: Math.max(estimate, log.figures.events),
    });
  }
  await compareOrphans(sources, scope, log, LISTED_ROWS);
  if (scope.projections.includes('customer-summary')) await compareCustomers(sources, scope, aggregates, log);
  if (scope.projections.includes('sales')) await compareBuckets(sources, scope, aggregates, log);
  await compareParked(read, scope, log, LISTED_ROWS);
  if (options.queryApi) await checkQueryApi(options.queryApi, sample, aggregates, log);

  if (options.topic) {
    const check: TopicCheck = {
      ...options.topic,
      projections: scope.projections,
      ...(options.onInfo ? { onInfo: options.onInfo } : {}),
      onProgress: (records) =>
        options.onProgress?.({ phase: 'topic', done: records, estimate: Math.max(estimate, records) }),
    };
    const logEnd = await checkOrdersTopic(sources, check, log);
    await compareOffsets(read, scope, check.ordersTopic, logEnd, log);
    await checkDeadLetters(read, check, log);
  }
  return { figures: log.figures, differences: log.kept };
}

/** The planner's estimate of the store's size, for progress: counting would read the whole table once more. */
async function estimatedEvents(sql: Sql): Promise<number> {
  const rows = await sql.query<{ estimate: number }>(
    `SELECT greatest(reltuples, 0)::float8 AS estimate FROM pg_class WHERE oid = 'public.events'::regclass`,
  );
  return Math.round(rows[0]?.estimate ?? 0);
}
