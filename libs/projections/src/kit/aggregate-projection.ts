import type { DomainEvent, EventContract, EventEnvelope } from '@app/messaging';
import { isPipelined } from '@app/platform';

import type { Projection } from '../projection.js';
import { assertIdentifiers, canonical, toSqlJson, type ColumnType } from './columns.js';
import { eventTypesOf, handlerFor, type EventHandlers } from './event-handlers.js';
import {
  checkStreamTable,
  foldStreamEvents,
  prefetchStreamRows,
  saveStreamRows,
  streamKey,
  streamRows,
  written,
  type PrefetchedRows,
  type StreamRow,
  type StreamTable,
} from './stream-table.js';

/**
 * How a column of an aggregate row takes a delta. Rows that sum many streams are written by the
 * workers of several partitions at once, so every write is commutative (ADR 6): never read-modify-write.
 * - `key`: part of the row's identity.
 * - `sum`: numbers or exact BigInt amounts, added.
 * - `sumByKey`: a jsonb object of amounts (per currency, say), added key by key, exactly (numeric).
 * - `{ sql, merge }`: anything else commutative; `sql` combines `t.<column>` (the row) with
 *   `EXCLUDED.<column>` (the delta), `merge` does the same for two deltas of one batch.
 */
export type AggregateColumn<D = Delta> =
  | { readonly type: ColumnType; readonly combine: 'key' | 'sum' }
  | { readonly type: 'jsonb'; readonly combine: 'sumByKey' }
  | {
      readonly type: ColumnType;
      readonly combine: { readonly sql: string; readonly merge: (a: D, b: D) => unknown };
    };

type Delta = Readonly<Record<string, unknown>>;

export interface AggregateTable<D> {
  readonly name: string;
  readonly columns: { readonly [Field in keyof D]-?: AggregateColumn<D> };
}

/** What an event does: the stream's row after it, and what it adds to the aggregate rows. */
export interface AggregateStep<Row, D> {
  /** The stream's row after the event, a new object (kept as it is when its `version` is the event's). */
  readonly row: Row;
  readonly deltas?: readonly D[];
}

export interface AggregateProjectionDefinition<E extends DomainEvent, Row extends StreamRow, D> {
  readonly name: string;
  readonly version: number;
  /** The domain's event contract: events reach `on` upcast to its current versions. */
  readonly events: EventContract<E['type']>;
  /** What each stream contributes now (its lines, say), kept by the kit so a later event can change it. */
  readonly streams: StreamTable<Row>;
  /** The rows that sum many streams. */
  readonly aggregate: AggregateTable<D>;
  /** Pure: time comes from the event, so a rebuild gives the same rows. */
  readonly on: EventHandlers<E, Row | undefined, AggregateStep<Row, D>>;
}

/**
 * A read model whose rows sum many streams (per customer, per time bucket, per SKU). The author writes
 * what each event does to its stream's row and which deltas it adds; the kit keeps the stream rows,
 * folds the batch's deltas per key (ON CONFLICT takes each key once), sorts them (workers of
 * different partitions then lock rows in one order) and writes them in one commutative upsert.
 */
export function aggregateProjection<E extends DomainEvent, Row extends StreamRow, D extends object>(
  definition: AggregateProjectionDefinition<E, Row, D>,
): Projection {
  const { name, version, streams, aggregate, on } = definition;
  checkStreamTable(streams);
  assertIdentifiers([aggregate.name, ...Object.keys(aggregate.columns)]);
  const columns = Object.entries<AggregateColumn>(aggregate.columns as Record<string, AggregateColumn>);
  const keyColumns = columns.filter(([, column]) => column.combine === 'key').map(([column]) => column);
  if (keyColumns.length === 0) throw new Error(`${aggregate.name} needs at least one key column`);
  const upsert = aggregateUpsert(aggregate.name, columns, keyColumns);

  return {
    name,
    version,
    events: definition.events,
    ...eventTypesOf(on),
    tables: [aggregate.name, streams.name],

    prefetch: (db, streamIds) => prefetchStreamRows(db, streams, streamIds),

    async apply(db, events, prefetched) {
      const rows = await streamRows(db, streams, events, prefetched as Promise<PrefetchedRows<Row>> | undefined);
      const { changed, deltas } = foldBatch(on, columns, streams, rows, events);
      const saving = saveStreamRows(
        db,
        streams,
        [...changed].flatMap((streamId) => rows.get(streamId) ?? []),
      );
      // A session of one statement at a time takes them in turn.
      if (!isPipelined(db)) await saving;
      const summing = deltas.length > 0 ? db.query(upsert, [toSqlJson(deltas)]) : undefined;
      await written(db, Promise.all([saving, summing]));
    },
  };
}

/**
 * The stream rows and the aggregate deltas after these events, without a database: what `apply`
 * writes for one batch, for unit tests of a fold. `rows` holds the stream rows before, and is updated.
 */
export function foldAggregate<E extends DomainEvent, Row extends StreamRow, D extends object>(
  definition: AggregateProjectionDefinition<E, Row, D>,
  events: readonly EventEnvelope<E>[],
  rows: Map<string, Row> = new Map(),
): { rows: Map<string, Row>; deltas: D[] } {
  const columns = Object.entries<AggregateColumn>(definition.aggregate.columns as Record<string, AggregateColumn>);
  const { deltas } = foldBatch(definition.on, columns, definition.streams, rows, events as readonly EventEnvelope[]);
  return { rows, deltas: deltas as D[] };
}

/** Folds a batch: each stream's row, and the deltas merged per key (ON CONFLICT takes each key once) and sorted. */
function foldBatch<Row extends StreamRow>(
  on: Readonly<Record<string, unknown>>,
  columns: readonly [string, AggregateColumn][],
  streams: StreamTable<Row>,
  rows: Map<string, Row>,
  events: readonly EventEnvelope[],
): { changed: Set<string>; deltas: Delta[] } {
  const keyColumns = columns.filter(([, column]) => column.combine === 'key');
  const deltas = new Map<string, Delta>();
  const changed = foldStreamEvents(
    rows,
    events,
    (current, event: EventEnvelope) => {
      const step = handlerFor<Row | undefined, AggregateStep<Row, Delta>>(on, event.type)?.(current, event);
      for (const made of step?.deltas ?? []) {
        // One spelling per key value, as Postgres compares them: ON CONFLICT takes each key once.
        const delta: Record<string, unknown> = { ...made };
        for (const [column, { type }] of keyColumns) delta[column] = canonical(type, made[column]);
        const key = JSON.stringify(keyColumns.map(([column]) => delta[column]));
        const sum = deltas.get(key);
        deltas.set(key, sum ? mergeDeltas(columns, sum, delta) : delta);
      }
      return step?.row;
    },
    (streamId) => streamKey(streams, streamId),
  );
  // Sorted: workers of different partitions update the same aggregate rows, so they lock them in one order.
  const sorted = [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, delta]) => delta);
  return { changed, deltas: sorted };
}

function mergeDeltas(columns: readonly [string, AggregateColumn][], a: Delta, b: Delta): Delta {
  const merged: Record<string, unknown> = { ...a };
  for (const [column, { combine }] of columns) {
    if (combine === 'key') continue;
    if (combine === 'sum') merged[column] = add(a[column], b[column]);
    else if (combine === 'sumByKey') merged[column] = addByKey(a[column], b[column]);
    else merged[column] = combine.merge(a, b);
  }
  return merged;
}

function add(a: unknown, b: unknown): unknown {
  if (typeof a === 'bigint' || typeof b === 'bigint')
    return BigInt(a as number | bigint) + BigInt(b as number | bigint);
  return (a as number) + (b as number);
}

function addByKey(a: unknown, b: unknown): Record<string, bigint> {
  const sum: Record<string, bigint> = {};
  for (const amounts of [a, b] as Record<string, bigint | number>[]) {
    for (const [key, amount] of Object.entries(amounts)) sum[key] = (sum[key] ?? 0n) + BigInt(amount);
  }
  return sum;
}

/**
 * One statement for a batch: the deltas as JSON, amounts in `sumByKey` objects turned into numerics
 * (JSON carries them as decimal strings), added to each existing row by its column's rule.
 */
function aggregateUpsert(
  table: string,
  columns: readonly [string, AggregateColumn][],
  keys: readonly string[],
): string {
  const select = columns.map(([column, { combine }]) =>
    combine === 'sumByKey'
      ? `(SELECT coalesce(jsonb_object_agg(e.key, (e.value #>> '{}')::numeric), '{}') FROM jsonb_each(d.${column}) AS e) AS ${column}`
      : `d.${column}`,
  );
  const updates = columns.flatMap(([column, { combine }]) => {
    if (combine === 'key') return [];
    if (combine === 'sum') return `${column} = t.${column} + EXCLUDED.${column}`;
    if (combine === 'sumByKey') {
      return `${column} = (SELECT coalesce(jsonb_object_agg(k, coalesce((t.${column} ->> k)::numeric, 0) + coalesce((EXCLUDED.${column} ->> k)::numeric, 0)), '{}')
                 FROM (SELECT jsonb_object_keys(t.${column}) UNION SELECT jsonb_object_keys(EXCLUDED.${column})) AS keys(k))`;
    }
    return `${column} = ${combine.sql}`;
  });
  return `INSERT INTO ${table} AS t (${columns.map(([column]) => column).join(', ')})
     SELECT ${select.join(', ')} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb) AS d
     ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${updates.join(', ')}`;
}
