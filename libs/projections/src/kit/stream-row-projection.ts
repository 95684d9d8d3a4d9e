import type { DomainEvent, EventContract, EventEnvelope } from '@app/messaging';

import type { Projection } from '../projection.js';
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

export interface StreamRowProjectionDefinition<E extends DomainEvent, Row extends StreamRow> {
  readonly name: string;
  /** Bump it to have the worker rebuild the projection (docs/how-to.md). */
  readonly version: number;
  /** The domain's event contract: events reach `on` upcast to its current versions. */
  readonly events: EventContract<E['type']>;
  readonly table: StreamTable<Row>;
  /**
   * The row after one more event, a new object (the kit keeps it as it is when its `version` is the
   * event's, and otherwise a copy at the event's version). Pure: time comes from the event.
   */
  readonly on: EventHandlers<E, Row | undefined, Row>;
  /** A channel to NOTIFY when rows of the live generation change (readers waiting for a version). */
  readonly notify?: string;
}

/**
 * A read model with one row per stream (the order view). The author writes the fold; the kit loads
 * the rows a batch touches in one query, skips what a row already reflects, and writes the changed
 * rows in one upsert, inside the runner's transaction, which also holds its offsets and generations.
 */
export function streamRowProjection<E extends DomainEvent, Row extends StreamRow>(
  definition: StreamRowProjectionDefinition<E, Row>,
): Projection {
  const { name, version, table, on } = definition;
  checkStreamTable(table);
  const notify = definition.notify === undefined ? undefined : { channel: definition.notify, projection: name };
  return {
    name,
    version,
    events: definition.events,
    ...eventTypesOf(on),
    tables: [table.name],
    readersWait: notify !== undefined,

    prefetch: (db, streamIds) => prefetchStreamRows(db, table, streamIds),

    async apply(db, events, prefetched) {
      const rows = await streamRows(db, table, events, prefetched as Promise<PrefetchedRows<Row>> | undefined);
      const changed = foldStreamEvents(rows, events, step(on), (streamId) => streamKey(table, streamId));
      await written(
        db,
        saveStreamRows(
          db,
          table,
          [...changed].flatMap((streamId) => rows.get(streamId) ?? []),
          notify,
        ),
      );
    },

    async forgetStream(db, streamId) {
      await db.query(`DELETE FROM ${table.name} WHERE ${table.key} = $1`, [streamId]);
    },
  };
}

/**
 * The rows after these events, without a database: what `apply` writes, for unit tests of a fold.
 * `rows` holds the rows before, and is updated.
 */
export function foldRows<E extends DomainEvent, Row extends StreamRow>(
  definition: StreamRowProjectionDefinition<E, Row>,
  events: readonly EventEnvelope<E>[],
  rows: Map<string, Row> = new Map(),
): Map<string, Row> {
  foldStreamEvents(rows, events as readonly EventEnvelope[], step(definition.on), (streamId) =>
    streamKey(definition.table, streamId),
  );
  return rows;
}

function step<Row>(
  on: Readonly<Record<string, unknown>>,
): (current: Row | undefined, event: EventEnvelope) => Row | undefined {
  return (current, event) => handlerFor<Row | undefined, Row>(on, event.type)?.(current, event);
}
