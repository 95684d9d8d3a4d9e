import { isPipelined, lockThenRead, type SqlSession } from '@app/platform';

/** The answer a command gave the first time, replayed for every retry with the same key. */
export interface StoredResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

export type KeyLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly response: StoredResponse }
  | { readonly kind: 'mismatch' };

/** The key was used before for a different request (another body, method or path). */
export class IdempotencyKeyReused extends Error {
  constructor(readonly key: string) {
    super(`Idempotency-Key "${key}" was already used for a different request`);
    this.name = 'IdempotencyKeyReused';
  }
}

interface KeyRow {
  fingerprint: string;
  response_status: number;
  response_body: unknown;
  response_headers: Record<string, string>;
}

/**
 * Idempotency keys live in the command's own transaction: the key is recorded if and only if the
 * command's events are. Only successful commands are recorded; a rejected command changed nothing,
 * so retrying it simply decides again.
 *
 * Concurrent requests with one key: each first takes a transaction-scoped advisory lock on the key,
 * so the second waits until the first commits and then finds its response.
 */
export class IdempotencyKeys {
  constructor(private readonly ttlSeconds: number) {}

  async lookup(db: SqlSession, key: string, fingerprint: string): Promise<KeyLookup> {
    const rows = await lockThenRead(
      db,
      () => db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [KEY_LOCK_CLASS, key]),
      (): Promise<KeyRow[]> =>
        db.query(
          `SELECT fingerprint, response_status, response_body, response_headers
             FROM idempotency_keys WHERE key = $1 AND expires_at > now()`,
          [key],
        ),
    );
    const row = rows[0];
    if (!row) return { kind: 'new' };
    if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
    return {
      kind: 'replay',
      response: { status: row.response_status, body: row.response_body, headers: row.response_headers },
    };
  }

  /**
   * Records the response; replaces an expired entry of the same key. Pipelined, the statement goes out
   * with the commit and the transaction awaits it.
   */
  async record(db: SqlSession, key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    const recording: Promise<unknown> = db.query(
      `INSERT INTO idempotency_keys (key, fingerprint, response_status, response_body, response_headers, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       ON CONFLICT (key) DO UPDATE SET
         fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status,
         response_body = EXCLUDED.response_body, response_headers = EXCLUDED.response_headers,
         created_at = now(), expires_at = EXCLUDED.expires_at`,
      [
        key,
        fingerprint,
        response.status,
        JSON.stringify(response.body),
        JSON.stringify(response.headers),
        this.ttlSeconds,
      ],
    );
    if (!isPipelined(db)) await recording;
  }

  /** Deletes up to `limit` expired keys; returns how many. */
  async purgeExpired(db: SqlSession, limit = 10_000): Promise<number> {
    // Wrapped in a SELECT: TypeORM answers a bare DELETE with [rows, count] instead of the rows.
    const rows: { deleted: number }[] = await db.query(
      `WITH deleted AS (
         DELETE FROM idempotency_keys WHERE key IN (
           SELECT key FROM idempotency_keys WHERE expires_at <= now() LIMIT $1
         ) RETURNING 1
       ) SELECT count(*)::int AS deleted FROM deleted`,
      [limit],
    );
    return rows[0]?.deleted ?? 0;
  }
}

/** The first key of idempotency-key advisory locks (streams use 7243). */
export const KEY_LOCK_CLASS = 7_244;
