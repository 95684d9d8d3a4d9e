import type { DataSource } from 'typeorm';

/** What the relay has still to publish: committed events in the outbox, and how old the oldest is. */
export interface OutboxBacklog {
  readonly backlogEvents: number;
  /** Seconds since the oldest unpublished event occurred; 0 when nothing waits. */
  readonly oldestEventAgeSeconds: number;
}

/** One read of the outbox, for the backlog gauges and the command API's GET /admin/outbox. */
export async function readOutboxBacklog(dataSource: DataSource): Promise<OutboxBacklog> {
  const rows = await dataSource.query<{ events: number; age: number | null }[]>(
    `SELECT count(*)::int AS events, extract(epoch FROM now() - min(e.occurred_at))::float8 AS age
       FROM outbox o JOIN events e ON e.position = o.position`,
  );
  return { backlogEvents: rows[0]?.events ?? 0, oldestEventAgeSeconds: Math.max(0, rows[0]?.age ?? 0) };
}
