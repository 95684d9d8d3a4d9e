import type { EventContract, EventEnvelope } from '@app/messaging';

import type { SqlSession } from './sql-session.js';

/**
 * A projection is a value: what it is called, which events it reads, how it applies a batch of them,
 * and which tables it owns. Write one with the kit (`streamRowProjection`, `aggregateProjection` in
 * ./kit), which derives everything here from a table definition and a fold. Bumping `version` asks for
 * a rebuild: the worker rebuilds a projection whose live generation an older version built. `tables`
 * are what a rebuild's new generation holds, each served to readers as a public view of the live
 * generation.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  /** The event types it reads; the runner hands it only these. */
  readonly handles: readonly string[];
  /**
   * Its domain's events: a record of a type not in it, of a version newer than it knows, or off its
   * schema is not one it can read, and is parked. Records reach `apply` upcast to the current version.
   */
  readonly events: EventContract;
  readonly tables: readonly string[];
  /**
   * Readers wait for it to reach a version (the query API's `minVersion`), so under load it lingers
   * between fetches only `PROJECTION_FETCH_LINGER_MS`; the others `PROJECTION_BACKGROUND_LINGER_MS`.
   * The kit sets it for a stream-row projection that notifies readers (`notify`).
   */
  readonly readersWait?: boolean;
  /**
   * Optional: starts reading what `apply` will read for these streams (a partition batch's record
   * keys, unchecked: an id that is no valid key of its table is for it to skip), so that on a pipelined
   * session the read goes out with the runner's own, in one round trip. The runner hands the promise
   * to the `apply` of the same transaction when that applies the batch in one call; opaque to it.
   */
  prefetch?(db: SqlSession, streamIds: readonly string[]): Promise<unknown>;
  /**
   * Applies events (in log order, only types it handles) inside the caller's transaction. Must be
   * idempotent per row: an event at or below the version a row reflects changes nothing. `prefetched`
   * is what its own `prefetch` returned earlier in this transaction, if it did.
   */
  apply(db: SqlSession, events: readonly EventEnvelope[], prefetched?: Promise<unknown>): Promise<void>;
  /**
   * Removes what the projection holds for one stream, so that its events can be applied again (a
   * single-stream replay). Only projections whose rows each reflect one stream have it; a row that sums
   * many streams cannot be repaired from one stream's events, so those projections are rebuilt whole.
   */
  forgetStream?(db: SqlSession, streamId: string): Promise<void>;
}
