import type { DataSource } from 'typeorm';

import { dropUnlessLive, type SqlSession } from '../generations.js';
import { ownerLockHeld, takeOwnerLock, type RebuildOwner } from './rebuild-owner.js';
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
    super(
      `projection ${active.projection} is already being rebuilt (rebuild ${active.id}, ${active.state}, by ${active.requestedBy})`,
    );
    this.name = 'RebuildAlreadyActive';
  }
}

/** What a caller asks for; who runs it is the worker's or the caller's owner session (rebuild-owner.ts). */
export interface RebuildRequest {
  readonly projection: string;
  readonly version: number;
  readonly requestedBy: string;
  readonly reason: string;
}

/**
 * Where a rebuild stands for its owner, read under its row lock: `held` lets the owner act (create
 * its generation, switch); anything else means it must stop.
 */
export type OwnerStanding = 'held' | 'cancel-requested' | 'not-running' | 'lock-lost';

/** Advisory lock class serialising requests per projection (the owner lock's is in rebuild-owner.ts). */
const REBUILD_REQUEST_LOCK = 7_243_012;
/** Bounds the waits of a claim or a request: for another request of the projection, or for the owner lock. */
const CLAIM_LOCK_TIMEOUT = '5s';
const ABANDONED = 'abandoned: the process running it stopped before it finished';

const COLUMNS = `id::text, projection, generation, schema_name AS "schemaName", version, state, requested_by AS "requestedBy",
  reason, cancel_requested AS "cancelRequested", high_water_marks AS "highWaterMarks", progress, error,
  to_json(requested_at)#>>'{}' AS "requestedAt", to_json(started_at)#>>'{}' AS "startedAt",
  to_json(finished_at)#>>'{}' AS "finishedAt"`;

/**
 * The rebuilds table: who asked for which rebuild, and how far it got. At most one rebuild per
 * projection is active. A rebuild becomes `running` in the same transaction in which its owner's
 * session takes the owner lock, so a running rebuild without that lock has lost its owner for good:
 * the next request marks it failed and drops its half-built generation. Every change of an active
 * rebuild's state locks its row first, so a cancel, a switch and an abandonment happen in one order.
 */
export class RebuildRecords {
  constructor(private readonly dataSource: DataSource) {}

  /** Records a rebuild for a worker to run. Throws RebuildAlreadyActive when one is active. */
  request(input: RebuildRequest): Promise<RebuildRecord> {
    return this.dataSource.transaction((db) => this.insert(db, input, 'requested'));
  }

  /**
   * Records a rebuild that `owner` runs itself (the CLI): inserted as running and locked by the
   * owner's session in one transaction. Throws RebuildAlreadyActive when one is active.
   */
  requestRunning(owner: RebuildOwner, input: RebuildRequest): Promise<RebuildRecord> {
    return owner.transaction(async (db) => {
      const record = await this.insert(db, input, 'running');
      await takeOwnerLock(db, record.id);
      return record;
    });
  }

  /** Whether a rebuild of one of `projections` waits for a worker: a cheap look before opening an owner session. */
  async hasRequested(projections: readonly string[]): Promise<boolean> {
    const rows: { waiting: boolean }[] = await this.dataSource.query(
      `SELECT EXISTS (SELECT 1 FROM projection_rebuilds WHERE state = 'requested' AND projection = ANY($1::text[])) AS waiting`,
      [projections],
    );
    return rows[0]?.waiting ?? false;
  }

  /**
   * Takes the oldest requested rebuild of one of `projections` for `owner`: marked running and
   * locked by the owner's session in one transaction, so nobody ever sees it running unowned.
   */
  claimRequested(owner: RebuildOwner, projections: readonly string[]): Promise<RebuildRecord | undefined> {
    return owner.transaction(async (db) => {
      await db.query(`SET LOCAL lock_timeout = '${CLAIM_LOCK_TIMEOUT}'`);
      const claimed = first(
        await db.query(
          `WITH claimed AS (
             UPDATE projection_rebuilds SET state = 'running', started_at = now()
              WHERE id = (SELECT id FROM projection_rebuilds WHERE state = 'requested' AND projection = ANY($1::text[])
                           ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
              RETURNING *
           ) SELECT ${COLUMNS} FROM claimed`,
          [projections],
        ),
      );
      if (claimed) await takeOwnerLock(db, claimed.id);
      return claimed;
    });
  }

  async find(id: string): Promise<RebuildRecord | undefined> {
    return first(await this.dataSource.query(`SELECT ${COLUMNS} FROM projection_rebuilds WHERE id = $1`, [id]));
  }

  /** The projection's latest rebuild, whatever its state. */
  async latest(projection: string): Promise<RebuildRecord | undefined> {
    return first(
      await this.dataSource.query(
        `SELECT ${COLUMNS} FROM projection_rebuilds WHERE projection = $1 ORDER BY id DESC LIMIT 1`,
        [projection],
      ),
    );
  }

  async active(projection: string): Promise<RebuildRecord | undefined> {
    return this.activeIn(this.dataSource.manager, projection);
  }

  /**
   * Asks a rebuild to stop: a requested one is cancelled at once, a running one at its owner's next
   * check; one whose owner is gone is cancelled at once and its generation dropped. Waits for a
   * switch in progress (both lock the row): undefined when the rebuild is no longer active, so a
   * cancel that returns the rebuild never ends in a switch.
   */
  async requestCancel(id: string): Promise<RebuildRecord | undefined> {
    return this.dataSource.transaction(async (db) => {
      const rebuild = first(
        await db.query(
          `SELECT ${COLUMNS} FROM projection_rebuilds WHERE id = $1 AND state IN ('requested', 'running') FOR UPDATE`,
          [id],
        ),
      );
      if (!rebuild) return undefined;
      if (rebuild.state === 'running' && !(await ownerLockHeld(db, id))) {
        await this.abandon(db, rebuild, 'cancelled', `cancelled; it was ${ABANDONED}`);
      }
      return first(
        await db.query(
          `WITH cancelled AS (
             UPDATE projection_rebuilds
                SET cancel_requested = true,
                    state = CASE WHEN state = 'requested' THEN 'cancelled' ELSE state END,
                    finished_at = CASE WHEN state = 'requested' THEN now() ELSE finished_at END
              WHERE id = $1 RETURNING *
           ) SELECT ${COLUMNS} FROM cancelled`,
          [id],
        ),
      );
    });
  }

  /** Where the rebuild stands, without locking: for its owner's progress checks. */
  async standing(id: string): Promise<{ state: RebuildState | 'missing'; cancelRequested: boolean }> {
    const rows: { state: RebuildState; cancel_requested: boolean }[] = await this.dataSource.query(
      'SELECT state, cancel_requested FROM projection_rebuilds WHERE id = $1',
      [id],
    );
    const row = rows[0];
    return row
      ? { state: row.state, cancelRequested: row.cancel_requested }
      : { state: 'missing', cancelRequested: false };
  }

  /**
   * Locks the rebuild's row until the end of `db`'s transaction, and says whether the session with
   * backend `ownerPid` may still act for it: the rebuild is running, nobody asked to cancel it, and
   * that session holds its owner lock. A cancel or an abandonment then waits for the transaction.
   */
  async fence(db: SqlSession, id: string, ownerPid: number): Promise<OwnerStanding> {
    const rows: { state: RebuildState; cancel_requested: boolean }[] = await db.query(
      'SELECT state, cancel_requested FROM projection_rebuilds WHERE id = $1 FOR UPDATE',
      [id],
    );
    const row = rows[0];
    if (row?.state !== 'running') return 'not-running';
    if (row.cancel_requested) return 'cancel-requested';
    return (await ownerLockHeld(db, id, ownerPid)) ? 'held' : 'lock-lost';
  }

  async started(
    db: SqlSession,
    id: string,
    generation: { generation: number; schema: string; version: number; highWaterMarks: Record<string, number> },
  ): Promise<void> {
    await db.query(
      'UPDATE projection_rebuilds SET generation = $2, schema_name = $3, version = $4, high_water_marks = $5 WHERE id = $1',
      [id, generation.generation, generation.schema, generation.version, JSON.stringify(generation.highWaterMarks)],
    );
  }

  async saveProgress(
    id: string,
    progress: ReplayProgressSnapshot,
    db: SqlSession = this.dataSource.manager,
  ): Promise<void> {
    await db.query('UPDATE projection_rebuilds SET progress = $2 WHERE id = $1', [id, JSON.stringify(progress)]);
  }

  /** Records how an active rebuild ended; false, changing nothing, when it had already ended (switched, or abandoned by another). */
  async finish(
    id: string,
    state: 'switched' | 'failed' | 'cancelled',
    error: string | null = null,
    db: SqlSession = this.dataSource.manager,
  ): Promise<boolean> {
    const rows: { id: string }[] = await db.query(
      `WITH finished AS (
         UPDATE projection_rebuilds SET state = $2, error = $3, finished_at = now() WHERE id = $1 AND state IN ('requested', 'running') RETURNING id
       ) SELECT id::text FROM finished`,
      [id, state, error],
    );
    return rows.length > 0;
  }

  /** Inserts a rebuild, after abandoning an active one whose owner is gone; serialised per projection. */
  private async insert(db: SqlSession, input: RebuildRequest, state: 'requested' | 'running'): Promise<RebuildRecord> {
    await db.query(`SET LOCAL lock_timeout = '${CLAIM_LOCK_TIMEOUT}'`);
    await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [REBUILD_REQUEST_LOCK, input.projection]);
    // Locked, so that a claim in flight finishes first: its owner lock is then visible.
    const active = first(
      await db.query(
        `SELECT ${COLUMNS} FROM projection_rebuilds WHERE projection = $1 AND state IN ('requested', 'running') FOR UPDATE`,
        [input.projection],
      ),
    );
    if (active) {
      if (active.state === 'requested' || (await ownerLockHeld(db, active.id))) throw new RebuildAlreadyActive(active);
      await this.abandon(db, active, 'failed', ABANDONED);
    }
    return one(
      await db.query(
        `INSERT INTO projection_rebuilds (projection, version, state, requested_by, reason, started_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $3 = 'running' THEN now() END) RETURNING ${COLUMNS}`,
        [input.projection, input.version, state, input.requestedBy, input.reason],
      ),
    );
  }

  private async activeIn(db: SqlSession, projection: string): Promise<RebuildRecord | undefined> {
    return first(
      await db.query(
        `SELECT ${COLUMNS} FROM projection_rebuilds WHERE projection = $1 AND state IN ('requested', 'running')`,
        [projection],
      ),
    );
  }

  /**
   * Ends a running rebuild whose owner is gone (killed, crashed, its session lost): its generation
   * was never live. The caller holds the row locked and has seen its owner lock free; a rebuild
   * becomes running only together with that lock, so nobody can take it back meanwhile.
   */
  private async abandon(
    db: SqlSession,
    rebuild: RebuildRecord,
    state: 'failed' | 'cancelled',
    error: string,
  ): Promise<void> {
    if (rebuild.schemaName !== null) await dropUnlessLive(db, rebuild.schemaName);
    await this.finish(rebuild.id, state, error, db);
  }
}

function first(rows: readonly RebuildRecord[]): RebuildRecord | undefined {
  return rows[0];
}

function one(rows: readonly RebuildRecord[]): RebuildRecord {
  const row = rows[0];
  if (!row) throw new Error('projection_rebuilds returned no row');
  return row;
}
