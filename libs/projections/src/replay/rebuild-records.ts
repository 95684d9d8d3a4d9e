import type { DataSource, EntityManager } from 'typeorm';

import { dropUnlessLive } from '../generations.js';
import type { ReplayProgressSnapshot } from './replay-progress.js';

export type RebuildState = 'requested' | 'running' | 'switched' | 'failed' | 'cancelled';

/** One rebuild of one projection, as recorded in `projection_rebuilds`. */
export interface RebuildRecord {
  readonly id: string;
  readonly projection: string;
  readonly generation: number | null;
  readonly schemaName: string | null;
  readonly version: number;
  readonly state: RebuildState;
  readonly requestedBy: string;
  readonly reason: string;
  readonly cancelRequested: boolean;
  readonly highWaterMarks: Record<string, number> | null;
  readonly progress: ReplayProgressSnapshot | null;
  readonly error: string | null;
  readonly requestedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

export class RebuildAlreadyActive extends Error {
  constructor(readonly active: RebuildRecord) {
    super(`projection ${active.projection} is already being rebuilt (rebuild ${active.id}, ${active.state}, by ${active.requestedBy})`);
    this.name = 'RebuildAlreadyActive';
  }
}

/** Advisory lock classes: one held by the process running a rebuild, one serialising requests per projection. */
export const REBUILD_OWNER_LOCK = 7_243_011;
const REBUILD_REQUEST_LOCK = 7_243_012;

const COLUMNS = `id::text, projection, generation, schema_name AS "schemaName", version, state, requested_by AS "requestedBy",
  reason, cancel_requested AS "cancelRequested", high_water_marks AS "highWaterMarks", progress, error,
  to_json(requested_at)#>>'{}' AS "requestedAt", to_json(started_at)#>>'{}' AS "startedAt",
  to_json(finished_at)#>>'{}' AS "finishedAt"`;

/**
 * The rebuilds table: who asked for which rebuild, and how far it got. At most one rebuild per
 * projection is active; one whose process died (it no longer holds its owner lock) is marked failed
 * and its half-built generation dropped when the next one is asked for.
 */
export class RebuildRecords {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Records a rebuild: `requested` for a worker to run, or `running` for a caller that runs it
   * itself (and must then take its owner lock). Throws RebuildAlreadyActive when one is active.
   */
  request(input: { projection: string; version: number; requestedBy: string; reason: string; state: 'requested' | 'running' }): Promise<RebuildRecord> {
    return this.dataSource.transaction(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [REBUILD_REQUEST_LOCK, input.projection]);
      const active = await this.activeIn(db, input.projection);
      if (active) {
        if (active.state === 'requested' || (await isOwned(db, active.id))) throw new RebuildAlreadyActive(active);
        await this.abandon(db, active);
      }
      const rows: RebuildRecord[] = await db.query(
        `INSERT INTO projection_rebuilds (projection, version, state, requested_by, reason, started_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $3 = 'running' THEN now() END) RETURNING ${COLUMNS}`,
        [input.projection, input.version, input.state, input.requestedBy, input.reason],
      );
      return one(rows);
    });
  }

  /** Takes the oldest requested rebuild of one of `projections`, if any, and marks it running. */
  async claimRequested(projections: readonly string[]): Promise<RebuildRecord | undefined> {
    // Wrapped in a SELECT: TypeORM answers a bare UPDATE … RETURNING with [rows, count] instead of the rows.
    const rows: RebuildRecord[] = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE projection_rebuilds SET state = 'running', started_at = now()
          WHERE id = (SELECT id FROM projection_rebuilds WHERE state = 'requested' AND projection = ANY($1::text[])
                       ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
          RETURNING *
       ) SELECT ${COLUMNS} FROM claimed`,
      [projections],
    );
    return first(rows);
  }

  async find(id: string): Promise<RebuildRecord | undefined> {
    return first(await this.dataSource.query(`SELECT ${COLUMNS} FROM projection_rebuilds WHERE id = $1`, [id]));
  }

  /** The projection's latest rebuild, whatever its state. */
  async latest(projection: string): Promise<RebuildRecord | undefined> {
    return first(await this.dataSource.query(`SELECT ${COLUMNS} FROM projection_rebuilds WHERE projection = $1 ORDER BY id DESC LIMIT 1`, [projection]));
  }

  async active(projection: string): Promise<RebuildRecord | undefined> {
    return this.activeIn(this.dataSource.manager, projection);
  }

  /** Asks a rebuild to stop: a requested one is cancelled at once, a running one at its next progress tick. */
  async requestCancel(id: string): Promise<RebuildRecord | undefined> {
    return first(
      await this.dataSource.query(
        `WITH cancelled AS (
           UPDATE projection_rebuilds
              SET cancel_requested = true,
                  state = CASE WHEN state = 'requested' THEN 'cancelled' ELSE state END,
                  finished_at = CASE WHEN state = 'requested' THEN now() ELSE finished_at END
            WHERE id = $1 AND state IN ('requested', 'running') RETURNING *
         ) SELECT ${COLUMNS} FROM cancelled`,
        [id],
      ),
    );
  }

  async isCancelRequested(id: string): Promise<boolean> {
    const rows: { cancel_requested: boolean }[] = await this.dataSource.query('SELECT cancel_requested FROM projection_rebuilds WHERE id = $1', [id]);
    return rows[0]?.cancel_requested ?? true;
  }

  async started(db: EntityManager, id: string, generation: { generation: number; schema: string; version: number; highWaterMarks: Record<string, number> }): Promise<void> {
    await db.query(
      'UPDATE projection_rebuilds SET generation = $2, schema_name = $3, version = $4, high_water_marks = $5 WHERE id = $1',
      [id, generation.generation, generation.schema, generation.version, JSON.stringify(generation.highWaterMarks)],
    );
  }

  async saveProgress(id: string, progress: ReplayProgressSnapshot, db: EntityManager = this.dataSource.manager): Promise<void> {
    await db.query('UPDATE projection_rebuilds SET progress = $2 WHERE id = $1', [id, JSON.stringify(progress)]);
  }

  async finish(id: string, state: 'switched' | 'failed' | 'cancelled', error: string | null = null, db: EntityManager = this.dataSource.manager): Promise<void> {
    await db.query('UPDATE projection_rebuilds SET state = $2, error = $3, finished_at = now() WHERE id = $1', [id, state, error]);
  }

  private async activeIn(db: EntityManager, projection: string): Promise<RebuildRecord | undefined> {
    return first(await db.query(`SELECT ${COLUMNS} FROM projection_rebuilds WHERE projection = $1 AND state IN ('requested', 'running')`, [projection]));
  }

  /** A running rebuild whose process is gone (killed, crashed): its generation was never live. */
  private async abandon(db: EntityManager, rebuild: RebuildRecord): Promise<void> {
    if (rebuild.schemaName !== null) await dropUnlessLive(db, rebuild.schemaName);
    await this.finish(rebuild.id, 'failed', 'abandoned: the process running it stopped before it finished', db);
  }
}

async function isOwned(db: EntityManager, id: string): Promise<boolean> {
  const rows: { owned: boolean }[] = await db.query(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
     ) AS owned`,
    [REBUILD_OWNER_LOCK, Number(id)],
  );
  return rows[0]?.owned ?? false;
}

function first(rows: readonly RebuildRecord[]): RebuildRecord | undefined {
  return rows[0];
}

function one(rows: readonly RebuildRecord[]): RebuildRecord {
  const row = rows[0];
  if (!row) throw new Error('projection_rebuilds returned no row');
  return row;
}
