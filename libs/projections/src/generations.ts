import { lockThenRead, quoteIdentifier as quote } from '@app/platform';

import type { Projection } from './projection.js';
import type { SqlSession } from './sql-session.js';

/**
 * Generations (ADR 7). Each projection's tables live in a schema of their own, `<projection>_g<n>`,
 * beside that generation's bookkeeping: `projection_offsets`, `projection_order_versions` and
 * `parked_events`. Readers use public views of the live generation; writers set `search_path` to
 * their generation, so projection code keeps plain table names.
 */

export type { SqlSession };

/** The tables every generation holds beside the projection's own, in the same transactions. */
export const BOOKKEEPING_TABLES = ['projection_offsets', 'projection_order_versions', 'parked_events'] as const;

/**
 * Advisory lock class of "which generation is live". Writers to a live generation hold it shared for
 * their transaction; a switch holds it exclusively, so a batch applies wholly before or wholly after it.
 */
export const LIVE_GENERATION_LOCK = 7_243_010;
/** Serialises switches of all projections: each rewrites the views that span every live generation. */
const PUBLISH_VIEWS_LOCK = 7_243_013;

export interface LiveGenerationRow {
  readonly projection: string;
  readonly generation: number;
  readonly version: number;
  readonly schemaName: string;
  readonly builtAt: string;
}

/** Where a runner writes: the live generation, or one a rebuild is filling. */
export interface GenerationScope {
  /** Points the transaction's unqualified table names at the generation; returns its schema. */
  enter(db: SqlSession): Promise<string>;
}

export class ProjectionHasNoGeneration extends Error {
  constructor(projection: string) {
    super(
      `projection ${projection} has no live generation: its tables come from a migration that creates its first ` +
        'generation (see docs/how-to.md, "Add a projection")',
    );
    this.name = 'ProjectionHasNoGeneration';
  }
}

export function liveGeneration(projection: string): GenerationScope {
  return {
    async enter(db) {
      // Two statements: a statement's snapshot is taken before it waits, so reading in the same one
      // as the lock could still see the generation a switch just retired. Pipelined, both go at once.
      const rows = await lockThenRead(
        db,
        () => db.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, projection]),
        (): Promise<{ schema_name: string }[]> =>
          db.query(
            `SELECT g.schema_name, set_config('search_path', format('%I, public', g.schema_name), true)
               FROM projection_generations g WHERE g.projection = $1`,
            [projection],
          ),
      );
      const row = rows[0];
      if (!row) throw new ProjectionHasNoGeneration(projection);
      return row.schema_name;
    },
  };
}

export function buildingGeneration(schema: string, { asynchronousCommit = false } = {}): GenerationScope {
  // A rebuild's commits need not wait for the disk (ADR 7): its rows and offsets are lost together in
  // a crash of Postgres, which also ends the rebuild; nobody reads the generation before its switch,
  // and the switch commits synchronously.
  const sql = asynchronousCommit
    ? `SELECT set_config('search_path', format('%I, public', $1::text), true), set_config('synchronous_commit', 'off', true)`
    : `SELECT set_config('search_path', format('%I, public', $1::text), true)`;
  return {
    async enter(db) {
      await db.query(sql, [schema]);
      return schema;
    },
  };
}

/** Stops writers of the live generation until the caller's transaction ends. */
export async function pauseLiveWriters(db: SqlSession, projection: string): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LIVE_GENERATION_LOCK, projection]);
}

export async function findLiveGeneration(db: SqlSession, projection: string): Promise<LiveGenerationRow | undefined> {
  const rows: LiveGenerationRow[] = await db.query(
    `SELECT projection, generation, version, schema_name AS "schemaName", to_json(built_at)#>>'{}' AS "builtAt"
       FROM projection_generations WHERE projection = $1`,
    [projection],
  );
  return rows[0];
}

export function generationSchema(projection: string, generation: number): string {
  return `${projection.replaceAll(/[^a-z0-9]+/g, '_')}_g${String(generation)}`;
}

/**
 * Creates an empty generation shaped like the live one: every table of its schema with columns,
 * defaults, constraints and indexes, and the indexes renamed to the live names so that later
 * migrations can address them.
 */
export async function createGenerationLike(db: SqlSession, liveSchema: string, schema: string): Promise<void> {
  await db.query(`CREATE SCHEMA ${quote(schema)}`);
  const tables: { table_name: string }[] = await db.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [liveSchema],
  );
  for (const { table_name: table } of tables) {
    await db.query(
      `CREATE TABLE ${quote(schema)}.${quote(table)} (LIKE ${quote(liveSchema)}.${quote(table)} INCLUDING ALL)`,
    );
  }
  const renames: { generated: string; live: string }[] = await db.query(
    `SELECT c.indexname AS generated, l.indexname AS live
       FROM pg_indexes c JOIN pg_indexes l
         ON l.schemaname = $1 AND l.tablename = c.tablename
        AND replace(l.indexdef, 'INDEX ' || quote_ident(l.indexname) || ' ON ' || quote_ident($1) || '.', '')
          = replace(c.indexdef, 'INDEX ' || quote_ident(c.indexname) || ' ON ' || quote_ident($2) || '.', '')
      WHERE c.schemaname = $2 AND c.indexname <> l.indexname`,
    [liveSchema, schema],
  );
  for (const { generated, live } of renames) {
    await db.query(`ALTER INDEX ${quote(schema)}.${quote(generated)} RENAME TO ${quote(live)}`);
  }
}

/**
 * Gathers the planner's statistics of a generation's tables. Filled by a rebuild, they have none until
 * autovacuum comes by, or ever where it is off, and without them Postgres plans from guesses: their
 * `projection` column, one value in every row, looks as selective as a key.
 */
export async function analyzeGeneration(db: SqlSession, schema: string): Promise<void> {
  const tables: { table_name: string }[] = await db.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [schema],
  );
  await analyzeTables(
    db,
    schema,
    tables.map(({ table_name: table }) => table),
  );
}

/**
 * Analyzes the generation's tables that hold rows and were never analyzed, by anyone or by autovacuum,
 * and returns their names. Once is enough for the statistics that matter most (a column with one value,
 * a key that is unique): they stay true as the table grows. Where autovacuum runs, it finds none.
 */
export async function analyzeTablesNeverAnalyzed(db: SqlSession, schema: string): Promise<string[]> {
  const tables: { relname: string }[] = await db.query(
    `SELECT relname FROM pg_stat_user_tables
      WHERE schemaname = $1 AND last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup > 0
      ORDER BY relname`,
    [schema],
  );
  const names = tables.map(({ relname }) => relname);
  await analyzeTables(db, schema, names);
  return names;
}

async function analyzeTables(db: SqlSession, schema: string, tables: readonly string[]): Promise<void> {
  if (tables.length === 0) return;
  await db.query(`ANALYZE ${tables.map((table) => `${quote(schema)}.${quote(table)}`).join(', ')}`);
}

/**
 * Makes `schema` the projection's live generation: records it and points the public views at it.
 * Transactional DDL: readers see the old generation or the new one, never a mix. The caller holds
 * the live writers paused.
 */
export async function switchToGeneration(
  db: SqlSession,
  projection: Projection,
  target: { generation: number; version: number; schema: string },
): Promise<void> {
  // Taken first, so the statements after it see every switch committed before: the union views must
  // never name a generation another switch has retired (dropping it would drop them).
  await db.query('SELECT pg_advisory_xact_lock($1)', [PUBLISH_VIEWS_LOCK]);
  await db.query(
    `UPDATE projection_generations SET generation = $2, version = $3, schema_name = $4, built_at = now() WHERE projection = $1`,
    [projection.name, target.generation, target.version, target.schema],
  );
  for (const table of projection.tables) {
    await db.query(`DROP VIEW IF EXISTS public.${quote(table)}`);
    await db.query(`CREATE VIEW public.${quote(table)} AS SELECT * FROM ${quote(target.schema)}.${quote(table)}`);
  }
  await publishBookkeepingViews(db);
}

/** Takes the lock every switch takes first; held, no switch or view publication runs beside the caller. */
export async function lockViewPublication(db: SqlSession): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [PUBLISH_VIEWS_LOCK]);
}

/** The bookkeeping of every live generation, as one view per table for operators, metrics and tests. */
export async function publishBookkeepingViews(db: SqlSession): Promise<void> {
  const schemas: { schema_name: string }[] = await db.query(
    'SELECT schema_name FROM projection_generations ORDER BY projection',
  );
  for (const table of BOOKKEEPING_TABLES) {
    const union = schemas
      .map(({ schema_name: schema }) => `SELECT * FROM ${quote(schema)}.${quote(table)}`)
      .join(' UNION ALL ');
    await db.query(`DROP VIEW IF EXISTS public.${quote(table)}`);
    await db.query(`CREATE VIEW public.${quote(table)} AS ${union}`);
  }
}

export async function dropGeneration(db: SqlSession, schema: string): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS ${quote(schema)} CASCADE`);
}

/**
 * Drops a generation that should not be live (a failed or abandoned rebuild's), checking under the
 * switch lock that it is not: a switch whose commit was lost in transit may have made it live.
 */
export async function dropUnlessLive(db: SqlSession, schema: string): Promise<boolean> {
  await db.query('SELECT pg_advisory_xact_lock($1)', [PUBLISH_VIEWS_LOCK]);
  const live: { n: number }[] = await db.query(
    'SELECT count(*)::int AS n FROM projection_generations WHERE schema_name = $1',
    [schema],
  );
  if (live[0]?.n !== 0) return false;
  await dropGeneration(db, schema);
  return true;
}
