import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What operators decided about parked events: discarded or retried. Outside every generation, so a
 * rebuild's new generation and a single-order replay follow the same decisions (ADR 6): a discarded
 * record is never parked again, and the version it held is one the order may skip.
 */
export class ProjectionDecisions1764400000000 implements MigrationInterface {
  name = 'ProjectionDecisions1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE projection_decisions (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        projection  text        NOT NULL,
        decision    text        NOT NULL CHECK (decision IN ('discarded', 'retried')),
        order_id    text,
        -- For a discard: the version of the order that may be skipped when no other record fills it.
        version     integer     CHECK (version > 0),
        event_id    text,
        topic       text        NOT NULL,
        partition   integer     NOT NULL,
        "offset"    bigint      NOT NULL,
        reason      text        NOT NULL,
        decided_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query('CREATE INDEX projection_decisions_order_idx ON projection_decisions (projection, order_id)');
    await db.query(
      'CREATE INDEX projection_decisions_origin_idx ON projection_decisions (projection, topic, partition, "offset")',
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE projection_decisions');
  }
}
