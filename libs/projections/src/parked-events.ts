import type { DataSource, EntityManager } from 'typeorm';

import { decodeEnvelope } from '@app/messaging';

import type { Projection } from './projection.js';
import { ProjectionRunner } from './projection-runner.js';
import type { SourcedRecord } from './sequence.js';

export interface ParkedEventSummary {
  readonly id: string;
  readonly projection: string;
  readonly orderId: string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly reason: string;
  readonly deadLettered: boolean;
  readonly parkedAt: string;
  /** The start of the record's value as text, for a human to recognise it. */
  readonly valuePreview: string | null;
}

export interface RetryOutcome {
  readonly applied: number;
  readonly stillParked: number;
}

interface ParkedRow {
  id: string;
  projection: string;
  order_id: string | null;
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  reason: string;
  dead_lettered: boolean;
  parked_at: Date;
}

/** Operator actions on parked events: list them, retry an order's parked events, discard one. */
export class ParkedEvents {
  private readonly runners: ReadonlyMap<string, ProjectionRunner>;

  constructor(
    private readonly dataSource: DataSource,
    projections: readonly Projection[],
  ) {
    // No dead-letter sink: a retry that fails again re-parks without a second dead letter (the first is on the topic).
    this.runners = new Map(projections.map((projection) => [projection.name, new ProjectionRunner(dataSource, projection)]));
  }

  isKnown(projection: string): boolean {
    return this.runners.has(projection);
  }

  names(): string[] {
    return [...this.runners.keys()];
  }

  async list(filter: { projection?: string | undefined; orderId?: string | undefined; limit: number }): Promise<ParkedEventSummary[]> {
    const rows: ParkedRow[] = await this.dataSource.query(
      `SELECT * FROM parked_events
        WHERE ($1::text IS NULL OR projection = $1) AND ($2::text IS NULL OR order_id = $2)
        ORDER BY id LIMIT $3`,
      [filter.projection ?? null, filter.orderId ?? null, filter.limit],
    );
    return rows.map((row) => ({
      id: row.id,
      projection: row.projection,
      orderId: row.order_id,
      topic: row.topic,
      partition: row.partition,
      offset: row.offset,
      reason: row.reason,
      deadLettered: row.dead_lettered,
      parkedAt: row.parked_at.toISOString(),
      valuePreview: row.value?.toString('utf8').slice(0, 300) ?? null,
    }));
  }

  /**
   * Tries the order's parked events again, in log order, as one batch: what applies now is applied
   * and unparked, what still cannot be applied stays parked with its new reason.
   */
  retry(projection: string, orderId: string): Promise<RetryOutcome> {
    const runner = this.runner(projection);
    return runner.transaction(async (db) => {
      await lockPartitions(db, projection, orderId);
      // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of the rows.
      const rows: ParkedRow[] = await db.query(
        `WITH taken AS (
           DELETE FROM parked_events WHERE id IN (
             SELECT id FROM parked_events WHERE projection = $1 AND order_id = $2 FOR UPDATE
           ) RETURNING *
         ) SELECT * FROM taken`,
        [projection, orderId],
      );
      if (rows.length === 0) return { applied: 0, stillParked: 0 };
      // By version where it can be read (after partitions were added, one order spans partitions), then log position.
      const records: SourcedRecord[] = rows
        .sort((a, b) => (versionOf(a) ?? Infinity) - (versionOf(b) ?? Infinity) || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
        .map((row) => ({ topic: row.topic, partition: row.partition, offset: row.offset, key: row.key, value: row.value, headers: row.headers }));
      const outcome = await runner.applyRecords(db, records);
      return { applied: outcome.applied, stillParked: outcome.parked.length };
    });
  }

  /**
   * Deletes one parked event for good. When it is the order's next event (its version, or, when it
   * could not be decoded, the version the next parked event of the order waits for), the order's
   * applied version moves past it, so that a retry applies what waited behind it; the read model
   * skips that one event. Any other discarded event (a stray duplicate, a version from the future)
   * changes no version: skipping ahead would drop the real events in between. False if there was none.
   */
  async discard(id: string): Promise<boolean> {
    // The public view spans the live generations; the id names one event in one of them.
    const found: { projection: string }[] = await this.dataSource.query('SELECT projection FROM parked_events WHERE id = $1', [id]);
    const runner = found[0] && this.runners.get(found[0].projection);
    if (!runner) return false;
    return runner.transaction(async (db) => {
      const parked: ParkedRow[] = await db.query('SELECT * FROM parked_events WHERE id = $1', [id]);
      const target = parked[0];
      if (!target) return false;
      if (target.order_id !== null) await lockPartitions(db, target.projection, target.order_id);
      const rows: ParkedRow[] = await db.query('WITH taken AS (DELETE FROM parked_events WHERE id = $1 RETURNING *) SELECT * FROM taken', [id]);
      const row = rows[0];
      if (!row) return false;
      if (row.order_id !== null) {
        const current = await appliedVersion(db, row.projection, row.order_id);
        const skipped = versionOf(row) ?? (await this.nextParkedVersion(db, row.projection, row.order_id)) - 1;
        if (skipped === current + 1) {
          await db.query(
            `INSERT INTO projection_order_versions AS v (projection, order_id, version) VALUES ($1, $2, $3)
             ON CONFLICT (projection, order_id) DO UPDATE SET version = GREATEST(v.version, EXCLUDED.version)`,
            [row.projection, row.order_id, skipped],
          );
        }
      }
      return true;
    });
  }

  private async nextParkedVersion(db: EntityManager, projection: string, orderId: string): Promise<number> {
    const rows: ParkedRow[] = await db.query(
      'SELECT * FROM parked_events WHERE projection = $1 AND order_id = $2 ORDER BY partition, "offset"',
      [projection, orderId],
    );
    for (const row of rows) {
      const version = versionOf(row);
      if (version !== undefined) return version;
    }
    return 0;
  }

  private runner(projection: string): ProjectionRunner {
    const runner = this.runners.get(projection);
    if (!runner) throw new Error(`unknown projection ${projection}`);
    return runner;
  }
}

function versionOf(row: ParkedRow): number | undefined {
  try {
    return decodeEnvelope(row.value, row.key).version;
  } catch {
    return undefined;
  }
}

/**
 * Takes the offset rows of the partitions that hold the order's parked events, as the worker does
 * for every batch: a retry or discard and the worker's batches of those partitions run one at a time.
 */
async function lockPartitions(db: EntityManager, projection: string, orderId: string): Promise<void> {
  await db.query(
    `SELECT 1 FROM projection_offsets o
      WHERE o.projection = $1 AND (o.topic, o.partition) IN (
        SELECT DISTINCT topic, partition FROM parked_events WHERE projection = $1 AND order_id = $2
      )
      ORDER BY o.topic, o.partition FOR UPDATE`,
    [projection, orderId],
  );
}

async function appliedVersion(db: EntityManager, projection: string, orderId: string): Promise<number> {
  const rows: { version: number }[] = await db.query(
    'SELECT version FROM projection_order_versions WHERE projection = $1 AND order_id = $2',
    [projection, orderId],
  );
  return rows[0]?.version ?? 0;
}
