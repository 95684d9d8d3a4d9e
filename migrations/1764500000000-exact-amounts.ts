import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The columns that hold sums of money, with the projection that owns them (a migration never reads today's code). */
const AMOUNT_COLUMNS = [
  { projection: 'order-view', table: 'order_view', column: 'total_minor' },
  { projection: 'sales', table: 'sales_buckets', column: 'revenue_minor' },
];

/** The advisory locks the projection runtime takes around a generation switch (libs/projections/src/generations.ts). */
const LIVE_GENERATION_LOCK = 7_243_010;
const PUBLISH_VIEWS_LOCK = 7_243_013;

/**
 * Amounts become numeric, exact at any size (issue 12, point 7). A customer's or a bucket's sum of
 * orders passes bigint's 2^63 after about a thousand orders at the largest total: the addition
 * failed with 22003 and parked the event. Customer totals need no change here: jsonb stores numbers
 * as numeric already, and the projection now adds them as numeric.
 *
 * The tables live in each projection's generations (ADR 7). Every generation that holds the table
 * is altered: the live one, and any a rebuild is filling, which would otherwise switch in with
 * bigint; a later generation is created LIKE the live one and inherits numeric. The public view of
 * the live table names its columns' types, so it is dropped around the ALTER and made again as the
 * generations migration made it. The ALTER rewrites each table: readers and writers of it wait
 * for the rewrite, and switches wait for the whole migration.
 */
export class ExactAmounts1764500000000 implements MigrationInterface {
  name = 'ExactAmounts1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await lockAsASwitchDoes(db);
    for (const amount of AMOUNT_COLUMNS) await retype(db, amount, 'bigint', 'numeric');
  }

  /** Back to bigint only while every amount fits: a larger one fails the cast (22003), and the migration with it. */
  async down(db: QueryRunner): Promise<void> {
    await lockAsASwitchDoes(db);
    for (const amount of AMOUNT_COLUMNS) await retype(db, amount, 'numeric', 'bigint');
  }
}

/**
 * The locks a generation switch takes, in its order (each projection's live writers, then the
 * views), so that a switch during a deploy waits for this migration instead of deadlocking with it.
 * A rebuild creating its generation holds its projection's lock shared, so none is missed either.
 */
async function lockAsASwitchDoes(db: QueryRunner): Promise<void> {
  for (const projection of [...new Set(AMOUNT_COLUMNS.map((amount) => amount.projection))].sort()) {
    await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LIVE_GENERATION_LOCK, projection]);
  }
  await db.query('SELECT pg_advisory_xact_lock($1)', [PUBLISH_VIEWS_LOCK]);
}

/** Changes the column in every generation that holds it, with the live generation's public view made again around it. */
async function retype(
  db: QueryRunner,
  { projection, table, column }: (typeof AMOUNT_COLUMNS)[number],
  from: string,
  to: string,
): Promise<void> {
  const live = (
    (await db.query('SELECT schema_name FROM projection_generations WHERE projection = $1', [projection])) as {
      schema_name: string;
    }[]
  )[0];
  if (!live)
    throw new Error(`projection ${projection} has no live generation: run the migrations that create it first`);
  const generations = (await db.query(
    `SELECT c.table_schema FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
      WHERE c.table_name = $1 AND c.column_name = $2 AND c.data_type = $3 AND c.table_schema <> 'public'
      ORDER BY c.table_schema`,
    [table, column, from],
  )) as { table_schema: string }[];
  await db.query(`DROP VIEW public.${table}`);
  for (const { table_schema: schema } of generations) {
    await db.query(`ALTER TABLE ${quote(schema)}.${table} ALTER COLUMN ${column} TYPE ${to}`);
  }
  await db.query(`CREATE VIEW public.${table} AS SELECT * FROM ${quote(live.schema_name)}.${table}`);
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}
