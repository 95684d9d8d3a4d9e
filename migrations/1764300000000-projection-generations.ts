import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The projections and their tables when this migration was written (a migration never reads today's code). */
const PROJECTIONS = [
  { name: 'order-view', schema: 'order_view_g1', tables: ['order_view'] },
  { name: 'customer-summary', schema: 'customer_summary_g1', tables: ['customer_summary', 'customer_summary_orders'] },
  { name: 'sales', schema: 'sales_g1', tables: ['sales_buckets', 'sales_orders'] },
];

const BOOKKEEPING = ['projection_offsets', 'projection_order_versions', 'parked_events'];

/**
 * Generations (ADR 7): each projection's tables, with its own offsets, applied versions and parked
 * events, move into a schema of their own, `<projection>_g<n>`. A rebuild fills generation n+1 beside
 * it, and switches readers over by recreating the public views, which is atomic. Readers keep their
 * table names: `order_view` is now a view of the live generation's table.
 */
export class ProjectionGenerations1764300000000 implements MigrationInterface {
  name = 'ProjectionGenerations1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE projection_generations (
        projection  text        PRIMARY KEY,
        generation  integer     NOT NULL CHECK (generation > 0),
        version     integer     NOT NULL CHECK (version > 0),
        schema_name text        NOT NULL UNIQUE,
        built_at    timestamptz NOT NULL DEFAULT now()
      )`);
    // Every rebuild, requested or run, with who asked and how far it got. At most one active per projection.
    await db.query(`
      CREATE TABLE projection_rebuilds (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        projection       text        NOT NULL,
        generation       integer,
        schema_name      text,
        version          integer     NOT NULL,
        state            text        NOT NULL CHECK (state IN ('requested', 'running', 'switched', 'failed', 'cancelled')),
        requested_by     text        NOT NULL,
        reason           text        NOT NULL,
        cancel_requested boolean     NOT NULL DEFAULT false,
        high_water_marks jsonb,
        progress         jsonb,
        error            text,
        requested_at     timestamptz NOT NULL DEFAULT now(),
        started_at       timestamptz,
        finished_at      timestamptz
      )`);
    await db.query(
      `CREATE UNIQUE INDEX projection_rebuilds_one_active ON projection_rebuilds (projection) WHERE state IN ('requested', 'running')`,
    );

    // Parked events of every generation draw their ids from one sequence, so an id names one event.
    await db.query('CREATE SEQUENCE parked_event_ids');
    await db.query(`SELECT setval('parked_event_ids', coalesce((SELECT max(id) FROM parked_events), 0) + 1, false)`);

    for (const { name, schema, tables } of PROJECTIONS) {
      await db.query(`CREATE SCHEMA ${schema}`);
      for (const table of tables) await db.query(`ALTER TABLE public.${table} SET SCHEMA ${schema}`);
      await db.query(`CREATE TABLE ${schema}.projection_offsets (LIKE public.projection_offsets INCLUDING ALL)`);
      await db.query(
        `CREATE TABLE ${schema}.projection_order_versions (LIKE public.projection_order_versions INCLUDING ALL)`,
      );
      await db.query(`
        CREATE TABLE ${schema}.parked_events (
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
      await db.query(`CREATE INDEX parked_events_order_idx ON ${schema}.parked_events (projection, order_id)`);
      for (const table of BOOKKEEPING) {
        await db.query(
          `INSERT INTO ${schema}.${table} OVERRIDING SYSTEM VALUE SELECT * FROM public.${table} WHERE projection = $1`,
          [name],
        );
      }
      await db.query(
        'INSERT INTO projection_generations (projection, generation, version, schema_name) VALUES ($1, 1, 1, $2)',
        [name, schema],
      );
    }
    for (const table of BOOKKEEPING) await db.query(`DROP TABLE public.${table}`);

    for (const { schema, tables } of PROJECTIONS) {
      for (const table of tables) await db.query(`CREATE VIEW public.${table} AS SELECT * FROM ${schema}.${table}`);
    }
    for (const table of BOOKKEEPING) {
      const union = PROJECTIONS.map(({ schema }) => `SELECT * FROM ${schema}.${table}`).join(' UNION ALL ');
      await db.query(`CREATE VIEW public.${table} AS ${union}`);
    }
  }

  down(): Promise<void> {
    return Promise.reject(
      new Error(
        'ProjectionGenerations1764300000000 cannot be reverted in place: generations may have been rebuilt since. ' +
          'Restore a backup taken before it, or drop the database and let the projections rebuild from the log.',
      ),
    );
  }
}
