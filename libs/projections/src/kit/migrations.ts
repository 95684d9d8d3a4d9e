import { quoteIdentifier as quote } from '@app/platform';

import {
  generationSchema,
  LIVE_GENERATION_LOCK,
  lockViewPublication,
  publishBookkeepingViews,
  type SqlSession,
} from '../generations.js';

/**
 * Helpers for migrations, so a new projection or a new column is one call. A released migration must
 * give the same schema forever: these helpers only ever gain options, their SQL for a given call
 * never changes. Table definitions are the migration's own text, never read from today's code.
 */

/**
 * Creates a generation's bookkeeping tables, as every generation has had them since migration
 * 1764300000000 (frozen here: a released migration must keep creating the same tables): offsets and
 * applied versions (in the same transactions as the rows, which makes their effect exactly-once) and
 * parked events, whose ids come from one sequence so that an id names one event across generations.
 */
async function createBookkeepingTables(db: SqlSession, schema: string): Promise<void> {
  const s = quote(schema);
  await db.query(`
    CREATE TABLE ${s}.projection_offsets (
      projection  text    NOT NULL,
      topic       text    NOT NULL,
      partition   integer NOT NULL,
      next_offset bigint  NOT NULL CHECK (next_offset >= 0),
      PRIMARY KEY (projection, topic, partition)
    )`);
  await db.query(`
    CREATE TABLE ${s}.projection_order_versions (
      projection text    NOT NULL,
      order_id   text    NOT NULL,
      version    integer NOT NULL,
      PRIMARY KEY (projection, order_id)
    )`);
  await db.query(`
    CREATE TABLE ${s}.parked_events (
      id            bigint      PRIMARY KEY DEFAULT nextval('public.parked_event_ids'),
      projection    text        NOT NULL,
      order_id      text,
      topic         text        NOT NULL,
      partition     integer     NOT NULL,
      "offset"      bigint      NOT NULL,
      key           bytea,
      value         bytea,
      headers       jsonb       NOT NULL,
      reason        text        NOT NULL,
      dead_lettered boolean     NOT NULL,
      parked_at     timestamptz NOT NULL DEFAULT now(),
      UNIQUE (projection, topic, partition, "offset")
    )`);
  await db.query(`CREATE INDEX parked_events_order_idx ON ${s}.parked_events (projection, order_id)`);
}

/**
 * The locks a switch takes, for every projection and in one order (the live generation's of each, by
 * name, then the view publication's), so that a switch during a deploy waits for the migration instead
 * of deadlocking with it, however many helpers the migration calls. Held to the end of the migration's
 * transaction; taking them again is free.
 */
async function lockAsSwitchesDo(db: SqlSession, also: string): Promise<void> {
  const live: { projection: string }[] = await db.query('SELECT projection FROM projection_generations');
  for (const projection of [...new Set([...live.map((row) => row.projection), also])].sort()) {
    await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LIVE_GENERATION_LOCK, projection]);
  }
  await lockViewPublication(db);
}

/** Runs `statement` with `search_path` pointed at `schema` (then `public`), and restores what it was. */
async function inSchema(db: SqlSession, schema: string, statement: string): Promise<void> {
  const [saved] = await db.query<{ path: string }[]>(`SELECT current_setting('search_path') AS path`);
  await db.query(`SELECT set_config('search_path', $1, true)`, [`${quote(schema)}, public`]);
  await db.query(statement);
  await db.query(`SELECT set_config('search_path', $1, true)`, [saved?.path ?? 'public']);
}

export interface NewProjection {
  /** The projection's name, as in its definition. */
  readonly projection: string;
  /** The version of the projection code that fills it (1 for a new projection). */
  readonly version?: number;
  /** Each table's column and constraint definitions, as between the parentheses of CREATE TABLE. */
  readonly tables: Readonly<Record<string, string>>;
  /** Whole `CREATE INDEX <name> ON <table> (...)` statements, tables unqualified. */
  readonly indexes?: readonly string[];
}

/**
 * Creates a projection's first generation (ADR 7): its schema with its tables and the bookkeeping
 * every generation has, its row in `projection_generations`, a public view per table for readers,
 * and the bookkeeping views made again over every live generation. The worker then runs it from
 * offset zero; without it the worker refuses to start (`ProjectionHasNoGeneration`).
 */
export async function createProjectionGeneration(db: SqlSession, definition: NewProjection): Promise<void> {
  const schema = generationSchema(definition.projection, 1);
  await lockAsSwitchesDo(db, definition.projection);
  await db.query(`CREATE SCHEMA ${quote(schema)}`);
  for (const [table, columns] of Object.entries(definition.tables)) {
    await db.query(`CREATE TABLE ${quote(schema)}.${quote(table)} (${columns})`);
  }
  for (const index of definition.indexes ?? []) await inSchema(db, schema, index);
  await createBookkeepingTables(db, schema);
  await db.query(
    'INSERT INTO projection_generations (projection, generation, version, schema_name) VALUES ($1, 1, $2, $3)',
    [definition.projection, definition.version ?? 1, schema],
  );
  for (const table of Object.keys(definition.tables)) {
    await db.query(`CREATE VIEW public.${quote(table)} AS SELECT * FROM ${quote(schema)}.${quote(table)}`);
  }
  await publishBookkeepingViews(db);
}

export interface TableChange {
  readonly projection: string;
  readonly table: string;
  /** What follows `ALTER TABLE <table>`, e.g. `ADD COLUMN returned_at timestamptz`. */
  readonly alter: string;
  /** Run in each generation after the ALTER, with `search_path` set to it: a backfill, say. */
  readonly then?: string;
}

/**
 * Changes a projection table in every generation that holds it: the live one, and any a rebuild is
 * filling (it would otherwise switch in without the change); later generations are created like the
 * live one and inherit it. The public view names the columns it was made with, so it is made again.
 * Takes the locks switches take (`lockAsSwitchesDo`); the ALTER waits for the projection's writers of
 * the moment.
 */
export async function alterProjectionTable(db: SqlSession, change: TableChange): Promise<void> {
  await lockAsSwitchesDo(db, change.projection);
  const live: { schema_name: string }[] = await db.query(
    'SELECT schema_name FROM projection_generations WHERE projection = $1',
    [change.projection],
  );
  const liveSchema = live[0]?.schema_name;
  if (liveSchema === undefined) {
    throw new Error(`projection ${change.projection} has no live generation: run the migration that creates it first`);
  }
  const generations: { table_schema: string }[] = await db.query(
    `SELECT table_schema FROM information_schema.tables
      WHERE table_name = $1 AND table_type = 'BASE TABLE' AND table_schema ~ $2 ORDER BY table_schema`,
    [change.table, `^${generationSchema(change.projection, 0).slice(0, -1)}[0-9]+$`],
  );
  await db.query(`DROP VIEW IF EXISTS public.${quote(change.table)}`);
  for (const { table_schema: schema } of generations) {
    await db.query(`ALTER TABLE ${quote(schema)}.${quote(change.table)} ${change.alter}`);
    if (change.then !== undefined) await inSchema(db, schema, change.then);
  }
  await db.query(
    `CREATE VIEW public.${quote(change.table)} AS SELECT * FROM ${quote(liveSchema)}.${quote(change.table)}`,
  );
}

/**
 * Undoes createProjectionGeneration: the public views, every generation of the projection, its
 * rebuild records and decisions, and its row in `projection_generations`; the bookkeeping views are
 * made again without it.
 */
export async function dropProjection(db: SqlSession, projection: string, tables: readonly string[]): Promise<void> {
  await lockAsSwitchesDo(db, projection);
  for (const table of tables) await db.query(`DROP VIEW IF EXISTS public.${quote(table)}`);
  await db.query('DELETE FROM projection_generations WHERE projection = $1', [projection]);
  await publishBookkeepingViews(db);
  const schemas: { schema_name: string }[] = await db.query(
    'SELECT schema_name FROM information_schema.schemata WHERE schema_name ~ $1',
    [`^${generationSchema(projection, 0).slice(0, -1)}[0-9]+$`],
  );
  for (const { schema_name: schema } of schemas) await db.query(`DROP SCHEMA ${quote(schema)} CASCADE`);
  await db.query('DELETE FROM projection_rebuilds WHERE projection = $1', [projection]);
  await db.query('DELETE FROM projection_decisions WHERE projection = $1', [projection]);
}
