import type { DifferenceLog } from './difference.js';
import { tableOf, type Scope } from './scope.js';
import type { Sql } from './sql.js';

/**
 * Parked events of the checked projections' live generations (the first `limit` listed, all counted). A clean system has none: each is
 * an event some read model is still missing (or poison nobody has decided on yet).
 */
export async function compareParked(sql: Sql, scope: Scope, log: DifferenceLog, limit: number): Promise<void> {
  for (const projection of scope.projections) {
    const rows = await sql.query<{
      order_id: string | null;
      origin: string;
      reason: string;
      dead_lettered: boolean;
      total: number;
    }>(
      `SELECT order_id, topic || '/' || partition || '@' || "offset" AS origin, reason, dead_lettered, count(*) OVER ()::int AS total
         FROM ${tableOf(scope, projection, 'parked_events')} WHERE projection = $1 ORDER BY id LIMIT $2`,
      [projection, limit],
    );
    log.figures.parked += rows[0]?.total ?? 0;
    log.unlisted(projection, 'parked_events', (rows[0]?.total ?? 0) - rows.length);
    for (const row of rows) {
      log.add({
        projection,
        table: 'parked_events',
        key: `${row.origin}${row.order_id === null ? '' : ` order ${row.order_id}`}`,
        field: row.dead_lettered ? 'parked (dead-lettered)' : 'parked',
        expected: null,
        found: row.reason,
      });
    }
  }
}

/**
 * Each checked projection's stored offsets against the topic's log end: what it recorded is what
 * it applied, so on a quiet system they are equal. A partition nothing was written to may have no row.
 */
export async function compareOffsets(
  sql: Sql,
  scope: Scope,
  topic: string,
  logEnd: ReadonlyMap<number, number>,
  log: DifferenceLog,
): Promise<void> {
  for (const projection of scope.projections) {
    const rows = await sql.query<{ partition: number; next_offset: string }>(
      `SELECT partition, next_offset::text FROM ${tableOf(scope, projection, 'projection_offsets')} WHERE projection = $1 AND topic = $2 ORDER BY partition`,
      [projection, topic],
    );
    const stored = new Map(rows.map((row) => [row.partition, row.next_offset]));
    for (const [partition, end] of logEnd) {
      const next = stored.get(partition);
      stored.delete(partition);
      if (next === undefined && end === 0) continue;
      log.field(
        projection,
        'projection_offsets',
        `${topic}/${String(partition)}`,
        'next_offset',
        String(end),
        next ?? null,
      );
    }
    for (const [partition, next] of stored) {
      log.add({
        projection,
        table: 'projection_offsets',
        key: `${topic}/${String(partition)}`,
        field: 'next_offset',
        expected: null,
        found: next,
      });
    }
  }
}
