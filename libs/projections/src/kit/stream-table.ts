import { isPipelined } from '@app/platform';

import { assertIdentifiers, canonical, isUuid, selectList, toSqlJson, type Columns, type Db } from './columns.js';

/** What the kit needs of a stream's row: the stream version it reflects, which the kit keeps. */
export interface StreamRow {
  version: number;
}

/** A table with one row per stream, keyed by the stream id. */
export interface StreamTable<Row extends StreamRow> {
  readonly name: string;
  /** The column holding the stream id: `uuid` or `text`. */
  readonly key: keyof Row & string;
  readonly columns: Columns<Row>;
}

export function checkStreamTable<Row extends StreamRow>(table: StreamTable<Row>): void {
  assertIdentifiers([table.name, ...Object.keys(table.columns)]);
  const keyType = table.columns[table.key];
  if (keyType !== 'uuid' && keyType !== 'text') throw new Error(`${table.name}.${table.key} must be uuid or text`);
}

/** The rows of these streams, in one query. */
export async function loadStreamRows<Row extends StreamRow>(
  db: Db,
  table: StreamTable<Row>,
  streamIds: readonly string[],
): Promise<Map<string, Row>> {
  const rows: Row[] = await db.query(
    `SELECT ${selectList(table.columns)} FROM ${table.name} WHERE ${table.key} = ANY($1::${table.columns[table.key]}[])`,
    [streamIds],
  );
  return new Map(rows.map((row) => [String(row[table.key]), row]));
}

/** Rows read ahead of a batch (`prefetchStreamRows`): the streams asked for, and those found. */
export interface PrefetchedRows<Row extends StreamRow> {
  readonly asked: ReadonlySet<string>;
  readonly rows: Map<string, Row>;
}

/**
 * The rows of these streams, read ahead of the apply that needs them. Ids are a batch's record keys,
 * anyone's: one that is not a valid key for the table (not a uuid, for a uuid key) is left out, since
 * it would fail the statement and with it the transaction; an event of such a stream is parked before
 * it reaches the fold, and `streamRows` reads any stream left out.
 */
export async function prefetchStreamRows<Row extends StreamRow>(
  db: Db,
  table: StreamTable<Row>,
  streamIds: readonly string[],
): Promise<PrefetchedRows<Row>> {
  const valid = table.columns[table.key] === 'uuid' ? streamIds.filter(isUuid) : streamIds;
  const asked = new Set(valid.map((id) => streamKey(table, id)));
  return { asked, rows: asked.size === 0 ? new Map<string, Row>() : await loadStreamRows(db, table, [...asked]) };
}

/** The rows of the events' streams: from what was read ahead, and the rest read now. */
export async function streamRows<Row extends StreamRow>(
  db: Db,
  table: StreamTable<Row>,
  events: readonly { readonly streamId: string }[],
  prefetched: Promise<PrefetchedRows<Row>> | undefined,
): Promise<Map<string, Row>> {
  const streamIds = [...new Set(events.map((event) => streamKey(table, event.streamId)))];
  if (prefetched === undefined) return loadStreamRows(db, table, streamIds);
  const { asked, rows } = await prefetched;
  const missing = streamIds.filter((id) => !asked.has(id));
  if (missing.length > 0) for (const [id, row] of await loadStreamRows(db, table, missing)) rows.set(id, row);
  return rows;
}

/** The stream id as the table's key column spells it (a uuid in lower case): one stream, one key. */
export function streamKey<Row extends StreamRow>(table: StreamTable<Row>, streamId: string): string {
  return String(canonical(table.columns[table.key], streamId));
}

/**
 * One statement for the whole batch, each stream once (folded before), as ON CONFLICT requires. The
 * version guard keeps a row from going back, whoever wrote it. With `notify`, readers waiting on that
 * channel are woken at commit when a row changed, and only in the live generation (the one readers
 * see; `search_path` names the one being written), so a rebuild neither wakes them nor takes NOTIFY's
 * commit lock.
 */
export async function saveStreamRows<Row extends StreamRow>(
  db: Db,
  table: StreamTable<Row>,
  rows: readonly Row[],
  notify?: { readonly channel: string; readonly projection: string },
): Promise<void> {
  if (rows.length === 0) return;
  const updates = Object.keys(table.columns)
    .filter((column) => column !== table.key)
    .map((column) => `${column} = EXCLUDED.${column}`)
    .join(', ');
  const upsert = `INSERT INTO ${table.name} AS t
     SELECT * FROM jsonb_populate_recordset(NULL::${table.name}, $1::jsonb)
     ON CONFLICT (${table.key}) DO UPDATE SET ${updates}
     WHERE t.version < EXCLUDED.version`;
  if (!notify) {
    await db.query(upsert, [toSqlJson(rows)]);
    return;
  }
  await db.query(
    `WITH upserted AS (${upsert} RETURNING 1)
     SELECT pg_notify($2, NULL)
      WHERE EXISTS (SELECT FROM upserted)
        AND current_schema() = (SELECT schema_name FROM projection_generations WHERE projection = $3)`,
    [toSqlJson(rows), notify.channel, notify.projection],
  );
}

/**
 * A projection's writes, at the end of its apply: awaited, except on a pipelined session (the
 * runner's apply of a whole batch in one call), where they leave with the runner's bookkeeping and
 * COMMIT in one round trip, and a failure of theirs fails the commit (the runner then applies the
 * batch again, event by event under savepoints, where it hands apply a session that awaits).
 */
export async function written(db: Db, writes: Promise<unknown>): Promise<void> {
  if (isPipelined(db)) {
    writes.catch(() => undefined); // the transaction reports it
    return;
  }
  await writes;
}

/** Folds a batch into the rows it touches, skipping what a row already reflects. Rows are keyed by `key`. */
export function foldStreamEvents<Row extends StreamRow, Event extends { streamId: string; version: number }>(
  rows: Map<string, Row>,
  events: readonly Event[],
  step: (current: Row | undefined, event: Event) => Row | undefined,
  key: (streamId: string) => string = (streamId) => streamId,
): Set<string> {
  const changed = new Set<string>();
  for (const event of events) {
    const id = key(event.streamId);
    const current = rows.get(id);
    // At or below the row's version: a delivery the row already reflects (the runner never sends one,
    // but a row must not depend on that). Above it by more than one is fine: the runner sequences each
    // stream, and lets it step over a version an operator discarded (ADR 6).
    if (current !== undefined && event.version <= current.version) continue;
    const next = step(current, event);
    if (next === undefined) continue;
    // A copy only when the handler left the version to the kit: otherwise a copy of the row per event.
    rows.set(id, next.version === event.version ? next : { ...next, version: event.version });
    changed.add(id);
  }
  return changed;
}
