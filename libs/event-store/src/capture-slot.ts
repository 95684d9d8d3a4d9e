import type { SqlSession } from '@app/platform';

/** The replication slot Debezium's connector reads the outbox through, as Postgres reports it. */
export interface CaptureSlot {
  /** Whether a connector is attached to it now. */
  readonly active: boolean;
  /** Write-ahead log the slot holds that the connector has not confirmed: what a lagging slot costs the disk. */
  readonly lagBytes: number;
}

interface SlotRow {
  active: boolean;
  lag_bytes: string | null;
}

/** This database's slot named $1: whether a connector reads it, and the WAL it holds unconfirmed. */
export const CAPTURE_SLOT_QUERY = `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes
  FROM pg_replication_slots
 WHERE slot_name = $1 AND database = current_database()`;

/** The slot of this database named `slotName`, or undefined when there is none. */
export async function readCaptureSlot(db: SqlSession, slotName: string): Promise<CaptureSlot | undefined> {
  const rows: SlotRow[] = await db.query(CAPTURE_SLOT_QUERY, [slotName]);
  return toCaptureSlot(rows[0]);
}

export function toCaptureSlot(row: SlotRow | undefined): CaptureSlot | undefined {
  return row && { active: row.active, lagBytes: Math.max(0, Number(row.lag_bytes ?? 0)) };
}
