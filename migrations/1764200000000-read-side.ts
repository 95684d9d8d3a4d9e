import type { MigrationInterface, QueryRunner } from 'typeorm';

/** What the projection runtime needs beyond offsets, and the customer and sales read models. */
export class ReadSide1764200000000 implements MigrationInterface {
  name = 'ReadSide1764200000000';

  async up(db: QueryRunner): Promise<void> {
    // The last order version each projection applied: the runtime's duplicate and sequence guard,
    // in the same transaction as the projection's rows and offsets.
    await db.query(`
      CREATE TABLE IF NOT EXISTS projection_order_versions (
        projection text    NOT NULL,
        order_id   text    NOT NULL,
        version    integer NOT NULL,
        PRIMARY KEY (projection, order_id)
      )`);
    // Records a projection could not apply (poison), and the later records of the same order held
    // behind them so that nothing is applied out of order. Kept raw so they can be retried.
    await db.query(`
      CREATE TABLE IF NOT EXISTS parked_events (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    await db.query('CREATE INDEX IF NOT EXISTS parked_events_order_idx ON parked_events (projection, order_id)');

    // Counts the events applied to each order view row: equal to its version unless one was applied twice.
    await db.query('ALTER TABLE order_view ADD COLUMN IF NOT EXISTS applied_events integer NOT NULL DEFAULT 0');
    await db.query('DROP INDEX IF EXISTS order_view_customer_idx');
    await db.query(
      'CREATE INDEX IF NOT EXISTS order_view_customer_idx ON order_view (customer_id, placed_at DESC, order_id DESC)',
    );
    await db.query(
      'CREATE INDEX IF NOT EXISTS order_view_status_idx ON order_view (status, placed_at DESC, order_id DESC)',
    );
    await db.query('CREATE INDEX IF NOT EXISTS order_view_placed_idx ON order_view (placed_at DESC, order_id DESC)');

    await db.query(`
      CREATE TABLE IF NOT EXISTS customer_summary (
        customer_id        text        PRIMARY KEY,
        order_count        integer     NOT NULL,
        totals_by_currency jsonb       NOT NULL,
        -- Set by a customer's first order. Nullable because the projection upserts deltas, and a
        -- delta without a new order carries none (NOT NULL is checked before ON CONFLICT).
        last_order_id      uuid,
        last_order_at      timestamptz
      )`);
    // Each order's current lines, hence its contribution to its customer's totals.
    await db.query(`
      CREATE TABLE IF NOT EXISTS customer_summary_orders (
        order_id    uuid    PRIMARY KEY,
        customer_id text    NOT NULL,
        currency    char(3) NOT NULL,
        lines       jsonb   NOT NULL,
        cancelled   boolean NOT NULL
      )`);

    await db.query(`
      CREATE TABLE IF NOT EXISTS sales_buckets (
        granularity   text        NOT NULL CHECK (granularity IN ('5m', '1h')),
        bucket_start  timestamptz NOT NULL,
        currency      char(3)     NOT NULL,
        orders        integer     NOT NULL,
        revenue_minor bigint      NOT NULL,
        cancellations integer     NOT NULL,
        PRIMARY KEY (granularity, bucket_start, currency)
      )`);
    // Each order's current lines: their total is booked as revenue when the order is confirmed.
    await db.query(`
      CREATE TABLE IF NOT EXISTS sales_orders (
        order_id uuid    PRIMARY KEY,
        currency char(3) NOT NULL,
        lines    jsonb   NOT NULL
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of [
      'sales_orders',
      'sales_buckets',
      'customer_summary_orders',
      'customer_summary',
      'parked_events',
      'projection_order_versions',
    ]) {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
    }
    await db.query('DROP INDEX IF EXISTS order_view_status_idx');
    await db.query('DROP INDEX IF EXISTS order_view_placed_idx');
    await db.query('ALTER TABLE order_view DROP COLUMN IF EXISTS applied_events');
  }
}
