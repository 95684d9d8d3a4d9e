import type { SqlSession } from '@app/platform';

/** The replication slot Debezium's connector reads the outbox through, as Postgres reports it. */
export interface CaptureSlot {
  /** Whether a connector is attached to it now. */
  readonly active: boolean;
  /** Write-ahead log the slot holds that the connector has not confirmed: what a lagging slot costs the disk. */
  readonly lagBytes: number;
}

/** The slot of this database named `slotName`, or undefined when there is none. */
export async function readCaptureSlot(db: SqlSession, slotName: string): Promise<CaptureSlot | undefined> {
  const rows: { active: boolean; lag_bytes: string | null }[] = await db.query(
    `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes
       FROM pg_replication_slots
      WHERE slot_name = $1 AND database = current_database()`,
    [slotName],
  );
  const row = rows[0];
  return row && { active: row.active, lagBytes: Math.max(0, Number(row.lag_bytes ?? 0)) };
}
