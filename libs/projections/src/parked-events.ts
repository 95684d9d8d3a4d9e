import type { DataSource } from 'typeorm';

import { decodeEnvelope, type EventEnvelope } from '@app/messaging';
import { isPgError } from '@app/platform';

import { buildingGeneration } from './generations.js';
import { lockOffsets } from './offset-locks.js';

import type { Projection } from './projection.js';
import { ProjectionRunner } from './projection-runner.js';
import type { SourcedRecord } from './sequence.js';
import type { SqlSession } from './sql-session.js';

export interface ParkedEventSummary {
  readonly id: string;
  readonly projection: string;
  readonly streamId: string | null;
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

/** Operator actions on parked events: list them, retry a stream's parked events, discard one. */
export class ParkedEvents {
  private readonly runners: ReadonlyMap<string, ProjectionRunner>;

  constructor(
    private readonly dataSource: DataSource,
    projections: readonly Projection[],
  ) {
    // No dead-letter sink: a retry that fails again re-parks without a second dead letter (the first is on the topic).
    this.runners = new Map(
      projections.map((projection) => [projection.name, new ProjectionRunner(dataSource, projection)]),
    );
  }

  isKnown(projection: string): boolean {
    return this.runners.has(projection);
  }

  names(): string[] {
    return [...this.runners.keys()];
  }

  async list(filter: {
    projection?: string | undefined;
    streamId?: string | undefined;
    limit: number;
  }): Promise<ParkedEventSummary[]> {
    const rows: ParkedRow[] = await this.dataSource.query(
      `SELECT * FROM parked_events
        WHERE ($1::text IS NULL OR projection = $1) AND ($2::text IS NULL OR order_id = $2)
        ORDER BY id LIMIT $3`,
      [filter.projection ?? null, filter.streamId ?? null, filter.limit],
    );
    return rows.map((row) => ({
      id: row.id,
      projection: row.projection,
      streamId: row.order_id,
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
   * Tries the stream's parked events again, in log order, as one batch: what applies now is applied
   * and unparked, what still cannot be applied stays parked with its new reason. Done in the live
   * generation and in the one a running rebuild fills, so that the rebuild does not switch readers to
   * a stream still held there (ADR 6); the retry is recorded.
   */
  retry(projection: string, streamId: string): Promise<RetryOutcome> {
    const runner = this.runner(projection);
    return this.acrossGenerations(
      runner,
      async (db) => {
        const rows = await takeParked(db, projection, streamId);
        if (rows.length === 0) return { outcome: { applied: 0, stillParked: 0 }, origins: [] };
        for (const row of rows) await recordDecision(db, 'retried', row, versionOf(row) ?? null);
        const outcome = await runner.applyRecords(db, inLogOrder(rows));
        return { outcome: { applied: outcome.applied, stillParked: outcome.parked.length }, origins: rows };
      },
      async (db, { origins }) => {
        if (origins.length === 0) return;
        const rows = await takeParked(db, projection, streamId, origins);
        if (rows.length > 0) await runner.applyRecords(db, inLogOrder(rows));
      },
    ).then(({ outcome }) => outcome);
  }

  /**
   * Drops one parked event for good (ADR 6). The record is never applied or parked again, in any
   * generation, a rebuild's and a single-stream replay's included. The version it held becomes one
   * its stream may step over when no other record fills it: a real event of that version that comes
   * later still applies, so discarding an impostor never makes the real event be skipped. False if
   * there was none.
   */
  async discard(id: string): Promise<boolean> {
    // The public view spans the live generations; the id names one event in one of them.
    const found: { projection: string }[] = await this.dataSource.query(
      'SELECT projection FROM parked_events WHERE id = $1',
      [id],
    );
    const runner = found[0] && this.runners.get(found[0].projection);
    if (!runner) return false;
    const discarded = await this.acrossGenerations(
      runner,
      async (db) => {
        const parked: ParkedRow[] = await db.query('SELECT * FROM parked_events WHERE id = $1', [id]);
        const target = parked[0];
        if (!target) return undefined;
        await lockOffsets(db, target.projection, [target]);
        const rows: ParkedRow[] = await db.query(
          'WITH taken AS (DELETE FROM parked_events WHERE id = $1 RETURNING *) SELECT * FROM taken',
          [id],
        );
        const row = rows[0];
        if (!row) return undefined;
        await recordDecision(db, 'discarded', row, await this.heldVersion(db, row));
        return row;
      },
      async (db, row) => {
        if (!row) return;
        await lockOffsets(db, row.projection, [row]);
        await db.query(
          'DELETE FROM parked_events WHERE projection = $1 AND topic = $2 AND partition = $3 AND "offset" = $4',
          [row.projection, row.topic, row.partition, row.offset],
        );
      },
    );
    return discarded !== undefined;
  }

  /**
   * Runs `live` in the live generation and then `building`, in the same transaction, in the generation
   * a running rebuild of the projection fills, if any. A rebuild that ends meanwhile is skipped.
   */
  private acrossGenerations<T>(
    runner: ProjectionRunner,
    live: (db: SqlSession) => Promise<T>,
    building: (db: SqlSession, result: T) => Promise<void>,
  ): Promise<T> {
    return runner.transaction(async (db) => {
      const result = await live(db);
      const rebuilds: { schema_name: string }[] = await db.query(
        `SELECT schema_name FROM projection_rebuilds
          WHERE projection = $1 AND state = 'running' AND schema_name IS NOT NULL AND to_regnamespace(schema_name) IS NOT NULL`,
        [runner.projection.name],
      );
      for (const { schema_name: schema } of rebuilds) {
        await db.query('SAVEPOINT building_generation');
        try {
          await buildingGeneration(schema).enter(db);
          await building(db, result);
          await db.query('RELEASE SAVEPOINT building_generation');
        } catch (error) {
          // Its schema was dropped since (the rebuild failed or was cancelled): nothing left to follow the decision.
          if (!isPgError(error, '3F000') && !isPgError(error, '42P01')) throw error;
          await db.query('ROLLBACK TO SAVEPOINT building_generation');
        }
      }
      return result;
    });
  }

  /**
   * The version a discarded record held: its own, or for one that cannot be decoded, the version just
   * before the stream's next decodable parked event, else the one after what was applied before it.
   */
  private async heldVersion(db: SqlSession, discarded: ParkedRow): Promise<number | null> {
    const own = versionOf(discarded);
    if (own !== undefined) return own;
    if (discarded.order_id === null) return null;
    const rows: ParkedRow[] = await db.query(
      'SELECT * FROM parked_events WHERE projection = $1 AND order_id = $2 ORDER BY partition, "offset"',
      [discarded.projection, discarded.order_id],
    );
    const after = (row: ParkedRow): boolean =>
      row.partition > discarded.partition ||
      (row.partition === discarded.partition && BigInt(row.offset) > BigInt(discarded.offset));
    const later = rows
      .filter(after)
      .map(versionOf)
      .find((version) => version !== undefined);
    if (later !== undefined) return later > 1 ? later - 1 : null;
    const earlier = rows
      .filter((row) => !after(row))
      .map(versionOf)
      .filter((version) => version !== undefined);
    return Math.max(await appliedVersion(db, discarded.projection, discarded.order_id), ...earlier) + 1;
  }

  private runner(projection: string): ProjectionRunner {
    const runner = this.runners.get(projection);
    if (!runner) throw new Error(`unknown projection ${projection}`);
    return runner;
  }
}

interface Origin {
  readonly topic: string;
  readonly partition: number;
}

/**
 * Deletes and returns the stream's parked events in the current generation, after locking the offset
 * rows of the partitions they come from (or of `origins`), as the worker does for every batch: a
 * retry or discard and the batches of those partitions run one at a time.
 */
async function takeParked(
  db: SqlSession,
  projection: string,
  streamId: string,
  origins?: readonly Origin[],
): Promise<ParkedRow[]> {
  const partitions: readonly Origin[] =
    origins ??
    (await db.query('SELECT DISTINCT topic, partition FROM parked_events WHERE projection = $1 AND order_id = $2', [
      projection,
      streamId,
    ]));
  await lockOffsets(db, projection, partitions);
  // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of the rows.
  return db.query(
    `WITH taken AS (
       DELETE FROM parked_events WHERE id IN (
         SELECT id FROM parked_events WHERE projection = $1 AND order_id = $2 FOR UPDATE
       ) RETURNING *
     ) SELECT * FROM taken`,
    [projection, streamId],
  );
}

/**
 * Retries, in the runner's generation, every stream an operator retried that this generation still
 * holds parked. A rebuild calls it before it switches: a stream retried in the live generation
 * before the rebuild had parked it would otherwise come back at an older version. What still cannot
 * be applied stays parked, as it would after the operator's retry. Returns the events applied.
 */
export function retryDecidedOrders(runner: ProjectionRunner): Promise<number> {
  const projection = runner.projection.name;
  return runner.transaction(async (db) => {
    const streams: { order_id: string }[] = await db.query(
      `SELECT DISTINCT p.order_id FROM parked_events p
        WHERE p.projection = $1 AND EXISTS (
          SELECT 1 FROM public.projection_decisions d WHERE d.projection = $1 AND d.order_id = p.order_id AND d.decision = 'retried')`,
      [projection],
    );
    let applied = 0;
    for (const { order_id: streamId } of streams) {
      const rows = await takeParked(db, projection, streamId);
      if (rows.length > 0) applied += (await runner.applyRecords(db, inLogOrder(rows))).applied;
    }
    return applied;
  });
}

/** By version where it can be read (after partitions were added, one stream spans partitions), then log position. */
function inLogOrder(rows: readonly ParkedRow[]): SourcedRecord[] {
  return [...rows]
    .sort(
      (a, b) =>
        (versionOf(a) ?? Infinity) - (versionOf(b) ?? Infinity) ||
        a.partition - b.partition ||
        Number(BigInt(a.offset) - BigInt(b.offset)),
    )
    .map((row) => ({
      topic: row.topic,
      partition: row.partition,
      offset: row.offset,
      key: row.key,
      value: row.value,
      headers: row.headers,
    }));
}

async function recordDecision(
  db: SqlSession,
  decision: 'discarded' | 'retried',
  row: ParkedRow,
  version: number | null,
): Promise<void> {
  await db.query(
    `INSERT INTO public.projection_decisions (projection, decision, order_id, version, event_id, topic, partition, "offset", reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      row.projection,
      decision,
      row.order_id,
      version,
      eventIdOf(row) ?? null,
      row.topic,
      row.partition,
      row.offset,
      row.reason,
    ],
  );
}

function versionOf(row: ParkedRow): number | undefined {
  return envelopeOf(row)?.version;
}

function eventIdOf(row: ParkedRow): string | undefined {
  return envelopeOf(row)?.eventId;
}

function envelopeOf(row: ParkedRow): EventEnvelope | undefined {
  try {
    return decodeEnvelope(row.value, row.key);
  } catch {
    return undefined;
  }
}

/**
 * Takes the offset rows of the given partitions, as the worker does for every batch, creating one that
 * a rebuild has not reached yet: the worker's batch of that partition then waits for this transaction,
 * or this one for it, and never decides on what the other has not committed.
 */
async function appliedVersion(db: SqlSession, projection: string, streamId: string): Promise<number> {
  const rows: { version: number }[] = await db.query(
    'SELECT version FROM projection_order_versions WHERE projection = $1 AND order_id = $2',
    [projection, streamId],
  );
  return rows[0]?.version ?? 0;
}
