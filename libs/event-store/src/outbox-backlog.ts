import type { DataSource } from 'typeorm';

import { readCaptureSlot } from './capture-slot.js';

/** What the in-process relay has still to publish: committed events in the outbox, and how old the oldest is. */
export interface OutboxTableBacklog {
  readonly backlogEvents: number;
  /** Seconds since the oldest unpublished event occurred; 0 when nothing waits. */
  readonly oldestEventAgeSeconds: number;
}

/** The replication slot Debezium reads the outbox through, as `GET /admin/outbox` reports it. */
export interface CaptureSlotBacklog {
  readonly name: string;
  /** Whether the slot exists: without it nothing committed is captured (the command API does not start without it). */
  readonly present: boolean;
  /** Whether a connector reads the slot now. */
  readonly active: boolean;
  /** Write-ahead log the slot holds and the connector has not confirmed; null when the slot is missing. */
  readonly lagBytes: number | null;
}

/**
 * What is committed and not yet on Kafka, as the relay that publishes it can tell: events and the
 * oldest's age from the outbox table for the in-process relay; for Debezium, whose outbox rows are
 * deleted as they are written and whose backlog is the log its slot holds, the slot.
 */
export type OutboxBacklog =
  | ({ readonly relay: 'in-process'; readonly captureSlot: null } & OutboxTableBacklog)
  | {
      readonly relay: 'debezium';
      readonly backlogEvents: null;
      readonly oldestEventAgeSeconds: null;
      readonly captureSlot: CaptureSlotBacklog;
    };

/** One read of the outbox table, for the backlog gauges and the in-process relay's GET /admin/outbox. */
export async function readOutboxBacklog(dataSource: DataSource): Promise<OutboxTableBacklog> {
  const rows = await dataSource.query<{ events: number; age: number | null }[]>(
    `SELECT count(*)::int AS events, extract(epoch FROM now() - min(e.occurred_at))::float8 AS age
       FROM outbox o JOIN events e ON e.position = o.position`,
  );
  return { backlogEvents: rows[0]?.events ?? 0, oldestEventAgeSeconds: Math.max(0, rows[0]?.age ?? 0) };
}

/** The backlog of whichever relay publishes (`OUTBOX_RELAY`), for the command API's GET /admin/outbox. */
export async function readRelayBacklog(
  dataSource: DataSource,
  relay: { readonly mode: 'in-process' | 'debezium'; readonly captureSlot: string },
): Promise<OutboxBacklog> {
  if (relay.mode === 'in-process')
    return { relay: 'in-process', captureSlot: null, ...(await readOutboxBacklog(dataSource)) };
  const slot = await readCaptureSlot(dataSource.manager, relay.captureSlot);
  return {
    relay: 'debezium',
    backlogEvents: null,
    oldestEventAgeSeconds: null,
    captureSlot: {
      name: relay.captureSlot,
      present: slot !== undefined,
      active: slot?.active ?? false,
      lagBytes: slot?.lagBytes ?? null,
    },
  };
}
