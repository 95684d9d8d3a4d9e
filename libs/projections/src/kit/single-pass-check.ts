import { randomBytes } from 'node:crypto';

import type { EventEnvelope } from '@app/messaging';
import { quoteIdentifier as quote } from '@app/platform';

import { buildingGeneration, createGenerationLike, findLiveGeneration, type SqlSession } from '../generations.js';
import type { Projection } from '../projection.js';

/** Rows of one table where the live generation and a single pass over the event store disagree. */
export interface SinglePassDifference {
  readonly projection: string;
  readonly table: string;
  /** Rows the single pass holds and the live generation lacks (lost, or not applied yet). */
  readonly missing: number;
  /** Rows the live generation holds that the single pass does not (applied twice, or out of order). */
  readonly unexpected: number;
  /** A few of those rows as JSON, `-` missing, `+` unexpected. */
  readonly examples: readonly string[];
}

export interface SinglePassOptions {
  /** Events applied per call of `apply`; the runner's batches are about this size. */
  readonly batchSize?: number;
  /** How many differing rows each table lists. */
  readonly examples?: number;
}

/**
 * Checks any projection without knowing its tables: its own code applies the whole event store once,
 * in order, into a scratch generation shaped like the live one, and every table must then equal the
 * live generation's, row for row (EXCEPT ALL both ways, so a duplicate row counts). What it proves
 * is the pipeline: the live rows were built from the same events exactly once (relay, topic,
 * batches, offsets, parking, rebuilds and switches) — the fold's own correctness is its
 * specification's job. Runs in the caller's transaction on `read` and leaves nothing behind: roll
 * it back. Take a REPEATABLE READ snapshot, so the store and the live rows are read at one moment.
 * `store` is where the events are read: the same session when one database holds both sides,
 * otherwise a session on the event store's database (its snapshot taken after `read`'s), since no
 * query may join the two.
 */
export async function compareWithSinglePass(
  { store, read: db }: { readonly store: SqlSession; readonly read: SqlSession },
  projection: Projection,
  { batchSize = 500, examples = 5 }: SinglePassOptions = {},
): Promise<SinglePassDifference[]> {
  const live = await findLiveGeneration(db, projection.name);
  if (!live) throw new Error(`projection ${projection.name} has no live generation`);
  const scratch = `single_pass_${randomBytes(6).toString('hex')}`;
  await createGenerationLike(db, live.schemaName, scratch);
  await buildingGeneration(scratch).enter(db);
  // Stream by stream, each in version order: what a stream's rows need (positions need not follow
  // versions: a bulk insert numbers rows as it likes). Rows that sum many streams are commutative
  // (ADR 6), so the order of streams does not matter.
  for (let after: [string, number] = ['00000000-0000-0000-0000-000000000000', 0]; ;) {
    const rows: EventRow[] = await store.query(
      `SELECT event_id, order_id::text, version, type, schema_version, data, occurred_at
         FROM public.events WHERE (order_id, version) > ($1::uuid, $2::int) AND type = ANY($3::text[])
        ORDER BY order_id, version LIMIT $4`,
      [...after, projection.handles, batchSize],
    );
    const last = rows[rows.length - 1];
    if (last === undefined) break;
    // Upcast as the runner does: the projection is written for current versions only.
    await projection.apply(
      db,
      rows.map((row) => projection.events.read(toEnvelope(row))),
    );
    after = [last.order_id, last.version];
  }
  await db.query(`SELECT set_config('search_path', 'public', true)`);

  const differences: SinglePassDifference[] = [];
  for (const table of projection.tables) {
    const [ours, theirs] = [`${quote(scratch)}.${quote(table)}`, `${quote(live.schemaName)}.${quote(table)}`];
    const found: { side: '-' | '+'; row: string; n: number }[] = await db.query(
      `WITH missing AS (SELECT * FROM ${ours} EXCEPT ALL SELECT * FROM ${theirs}),
            unexpected AS (SELECT * FROM ${theirs} EXCEPT ALL SELECT * FROM ${ours})
       (SELECT '-' AS side, to_jsonb(m)::text AS row, (SELECT count(*) FROM missing)::int AS n FROM missing m LIMIT $1)
       UNION ALL
       (SELECT '+', to_jsonb(u)::text, (SELECT count(*) FROM unexpected)::int FROM unexpected u LIMIT $1)`,
      [examples],
    );
    if (found.length === 0) continue;
    differences.push({
      projection: projection.name,
      table,
      missing: found.find((row) => row.side === '-')?.n ?? 0,
      unexpected: found.find((row) => row.side === '+')?.n ?? 0,
      examples: found.map(({ side, row }) => `${side} ${row}`),
    });
  }
  return differences;
}

interface EventRow {
  event_id: string;
  order_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  occurred_at: Date;
}

/** The envelope as the outbox relay publishes it (times in milliseconds, as `toISOString` gives them). */
function toEnvelope(row: EventRow): EventEnvelope {
  return {
    eventId: row.event_id,
    type: row.type,
    schemaVersion: row.schema_version,
    streamId: row.order_id,
    version: row.version,
    occurredAt: row.occurred_at.toISOString(),
    data: row.data,
  };
}
