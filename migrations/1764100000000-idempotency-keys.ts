import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Idempotency keys of commands, written in the same transaction as the events the command appended. */
export class IdempotencyKeys1764100000000 implements MigrationInterface {
  name = 'IdempotencyKeys1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE IF NOT EXISTS idempotency_keys (
        key              text        PRIMARY KEY,
        fingerprint      text        NOT NULL,
        response_status  integer     NOT NULL,
        response_body    json        NOT NULL, -- json, not jsonb: a replay returns the very same bytes
        response_headers json        NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        expires_at       timestamptz NOT NULL
      )`);
    await db.query('CREATE INDEX IF NOT EXISTS idempotency_keys_expires_idx ON idempotency_keys (expires_at)');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE IF EXISTS idempotency_keys');
  }
}
