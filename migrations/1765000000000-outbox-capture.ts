import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The outbox read by change data capture (`OUTBOX_RELAY=debezium`, docs/adr/0013-…): one row per
 * event holding the record exactly as the in-process relay would publish it, inserted and deleted in
 * the command's transaction. The table stays empty; the write-ahead log keeps the inserts, and the
 * publication hands Debezium's connector inserts only, of this table only.
 *
 * Created in both relay modes, so that a deployment can move from one relay to the other without a
 * migration. A publication costs nothing until a replication slot reads it.
 */
export class OutboxCapture1765000000000 implements MigrationInterface {
  name = 'OutboxCapture1765000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS outbox_capture (
        event_id uuid PRIMARY KEY,
        order_id text NOT NULL,
        payload text NOT NULL,
        event_type text NOT NULL,
        schema_version text NOT NULL,
        correlation_id text NOT NULL,
        causation_id text NOT NULL,
        traceparent text
      )`);
    // publish = 'insert': the deletes that keep the table empty never reach the connector.
    await db.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'outbox_capture') THEN
          CREATE PUBLICATION outbox_capture FOR TABLE outbox_capture WITH (publish = 'insert');
        END IF;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP PUBLICATION IF EXISTS outbox_capture');
    await db.query('DROP TABLE IF EXISTS outbox_capture');
  }
}
