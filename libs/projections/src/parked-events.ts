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
    // A retry that fails again re-parks without a second dead letter: the first one is on the topic.
    const noDeadLetters = { publish: () => Promise.resolve() };
    this.runners = new Map(projections.map((projection) => [projection.name, new ProjectionRunner(dataSource, projection, noDeadLetters)]));
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
    return this.dataSource.transaction(async (db) => {
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
      const records: SourcedRecord[] = rows
        .sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
        .map((row) => ({ topic: row.topic, partition: row.partition, offset: row.offset, key: row.key, value: row.value, headers: row.headers }));
      const outcome = await runner.applyRecords(db, records, { deadLetter: false });
      return { applied: outcome.applied, stillParked: outcome.parked.length };
    });
  }

  /**
   * Deletes one parked event for good: the read model skips it. So that the order's later events can
   * follow, the order's applied version moves to the discarded event's version (or, when it could not
   * be decoded, to just before the next parked event of the order). Returns false if there was none.
   */
  discard(id: string): Promise<boolean> {
    return this.dataSource.transaction(async (db) => {
      const rows: ParkedRow[] = await db.query('WITH taken AS (DELETE FROM parked_events WHERE id = $1 RETURNING *) SELECT * FROM taken', [id]);
      const row = rows[0];
      if (!row) return false;
      if (row.order_id !== null) {
        const skipTo = versionOf(row) ?? (await this.nextParkedVersion(db, row.projection, row.order_id)) - 1;
        if (skipTo > 0) {
          await db.query(
            `INSERT INTO projection_order_versions AS v (projection, order_id, version) VALUES ($1, $2, $3)
             ON CONFLICT (projection, order_id) DO UPDATE SET version = GREATEST(v.version, EXCLUDED.version)`,
            [row.projection, row.order_id, skipTo],
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
