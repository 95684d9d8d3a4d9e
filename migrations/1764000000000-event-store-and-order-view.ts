import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event store, its outbox, projection offsets and the order view.
 * Statements use IF NOT EXISTS so a half-applied schema from an interrupted run is completed, not broken.
 */
export class EventStoreAndOrderView1764000000000 implements MigrationInterface {
  name = 'EventStoreAndOrderView1764000000000';

  async up(db: QueryRunner): Promise<void> {
    // One row per event. (order_id, version) is the optimistic-concurrency guard of the write side.
    await db.query(`
      CREATE TABLE IF NOT EXISTS events (
        position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id        uuid        NOT NULL UNIQUE,
        order_id        uuid        NOT NULL,
        version         integer     NOT NULL CHECK (version > 0),
        type            text        NOT NULL,
        schema_version  integer     NOT NULL,
        data            jsonb       NOT NULL,
        metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
        occurred_at     timestamptz NOT NULL,
        CONSTRAINT events_order_version_unique UNIQUE (order_id, version)
      )`);
    // Events not yet on Kafka. The relay reads it in position order and deletes what the broker acked;
    // a late-committing transaction's row is simply still here on the next read, so nothing is skipped.
    await db.query(`
      CREATE TABLE IF NOT EXISTS outbox (
        position bigint PRIMARY KEY REFERENCES events (position)
      )`);
    // The next Kafka offset each projection will apply, per partition: written in the same
    // transaction as the projection's rows, which is what makes their effect exactly-once.
    await db.query(`
      CREATE TABLE IF NOT EXISTS projection_offsets (
        projection  text    NOT NULL,
        topic       text    NOT NULL,
        partition   integer NOT NULL,
        next_offset bigint  NOT NULL CHECK (next_offset >= 0),
        PRIMARY KEY (projection, topic, partition)
      )`);
    await db.query(`
      CREATE TABLE IF NOT EXISTS order_view (
        order_id          uuid        PRIMARY KEY,
        customer_id       text        NOT NULL,
        status            text        NOT NULL,
        currency          char(3)     NOT NULL,
        lines             jsonb       NOT NULL,
        total_minor       bigint      NOT NULL,
        version           integer     NOT NULL,
        placed_at         timestamptz NOT NULL,
        confirmed_at      timestamptz,
        shipped_at        timestamptz,
        delivered_at      timestamptz,
        cancelled_at      timestamptz,
        updated_at        timestamptz NOT NULL,
        payment_reference text,
        carrier           text,
        tracking_number   text,
        cancel_reason     text
      )`);
    await db.query(
      `CREATE INDEX IF NOT EXISTS order_view_customer_idx ON order_view (customer_id, placed_at DESC, order_id)`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE IF EXISTS order_view');
    await db.query('DROP TABLE IF EXISTS projection_offsets');
    await db.query('DROP TABLE IF EXISTS outbox');
    await db.query('DROP TABLE IF EXISTS events');
  }
}
