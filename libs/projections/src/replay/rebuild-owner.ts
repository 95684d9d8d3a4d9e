import pg from 'pg';
import type { DataSource } from 'typeorm';

import type { SqlSession } from '../generations.js';

/** Advisory lock class held, per rebuild id, by the session of the process running that rebuild. */
export const REBUILD_OWNER_LOCK = 7_243_011;

/** How long the owner's session may take to answer a check before the rebuild counts it as lost. */
const CHECK_TIMEOUT_MS = 5_000;

/** The rebuild's owner session is gone, or no longer holds its lock: the rebuild must stop and may change nothing shared. */
export class RebuildOwnerLost extends Error {
  constructor(reason: string) {
    super(`lost its owner lock: ${reason}`);
    this.name = 'RebuildOwnerLost';
  }
}

/**
 * The database session a rebuild's owner lock lives on (ADR 7). A connection of its own, outside
 * the pool, so that the lock is exactly as alive as this session: claiming the rebuild, creating its
 * generation and switching readers to it all run here, in transactions that first check the lock.
 * Whatever ends the session (a dropped connection, `pg_terminate_backend`, a Postgres restart) ends
 * the lock with it, and `lost` says so at once; keep-alives both ways notice a silent drop.
 */
export class RebuildOwner {
  readonly manager: SqlSession;
  private lostBecause: string | undefined;

  private constructor(
    private readonly client: pg.Client,
    readonly pid: number,
  ) {
    this.manager = {
      query: async <T>(text: string, parameters?: unknown[]): Promise<T> =>
        (await client.query(text, parameters)).rows as T,
    };
  }

  static async open(dataSource: DataSource): Promise<RebuildOwner> {
    const client = new pg.Client({
      ...connectionOf(dataSource),
      application_name: 'rebuild-owner',
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
    });
    const owner: { current?: RebuildOwner } = {};
    // Registered before connecting: an error on an idle pg.Client without a listener would end the process.
    client.on('error', (error) => owner.current?.lose(error.message));
    client.on('end', () => owner.current?.lose('its session ended'));
    try {
      await client.connect();
      // The server's side: an owner whose network went silent loses its lock in about 11 s, not hours.
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pg_backend_pid() AS pid, set_config('tcp_keepalives_idle', '5', false), set_config('tcp_keepalives_interval', '2', false),
                set_config('tcp_keepalives_count', '3', false)`,
      );
      owner.current = new RebuildOwner(client, rows[0]?.pid ?? 0);
      return owner.current;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  /** Why the session is gone, once it is. */
  get lost(): string | undefined {
    return this.lostBecause;
  }

  throwIfLost(): void {
    if (this.lostBecause !== undefined) throw new RebuildOwnerLost(this.lostBecause);
  }

  /** Runs `work` in one transaction on the owner's session; an error that the session did not survive becomes RebuildOwnerLost. */
  async transaction<T>(work: (db: SqlSession) => Promise<T>): Promise<T> {
    this.throwIfLost();
    try {
      await this.client.query('BEGIN');
      const result = await work(this.manager);
      await this.client.query('COMMIT');
      return result;
    } catch (error) {
      // The rollback doubles as the probe: a session that cannot roll back is gone.
      const rolledBack = await this.answerWithin(this.client.query('ROLLBACK'));
      if (rolledBack === undefined) this.lose(`its session failed: ${messageOf(error)}`);
      if (this.lostBecause !== undefined) throw new RebuildOwnerLost(`${this.lostBecause} (${messageOf(error)})`);
      throw error;
    }
  }

  /** Throws RebuildOwnerLost unless the session answers within CHECK_TIMEOUT_MS and still holds the lock of rebuild `id`. */
  async verify(id: string): Promise<void> {
    this.throwIfLost();
    const held = await this.answerWithin(ownerLockHeld(this.manager, id, this.pid));
    if (held === undefined) this.lose(`its session failed to answer a check within ${String(CHECK_TIMEOUT_MS)} ms`);
    else if (!held.answer) this.lose('its session no longer holds the lock');
    this.throwIfLost();
  }

  /** Ends the session, which frees the lock: call it only once the rebuild's row says how it ended. */
  async close(): Promise<void> {
    if (this.lostBecause !== undefined) return;
    this.lostBecause = 'closed';
    await this.client.end().catch(() => undefined);
  }

  private lose(reason: string): void {
    if (this.lostBecause !== undefined) return;
    this.lostBecause = reason;
    // A session this process stopped trusting must not keep the lock on the server either.
    void this.client.end().catch(() => undefined);
  }

  /** The query's answer, or undefined when it failed or took longer than a check may. */
  private async answerWithin<T>(query: Promise<T>): Promise<{ answer: T } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>(
      (resolve) =>
        (timer = setTimeout(() => {
          resolve(undefined);
        }, CHECK_TIMEOUT_MS)),
    );
    try {
      return await Promise.race([
        query.then(
          (answer) => ({ answer }),
          () => undefined,
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Takes rebuild `id`'s owner lock for the session of `db`, for as long as that session lives; bounded by the caller's lock_timeout. */
export async function takeOwnerLock(db: SqlSession, id: string): Promise<void> {
  await db.query('SELECT pg_advisory_lock($1, $2::int)', [REBUILD_OWNER_LOCK, Number(id)]);
}

/** Whether some session (the one with backend `pid`, when given) holds rebuild `id`'s owner lock. */
export async function ownerLockHeld(db: SqlSession, id: string, pid?: number): Promise<boolean> {
  const rows: { owned: boolean }[] = await db.query(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND ($3::int IS NULL OR pid = $3::int)
     ) AS owned`,
    [REBUILD_OWNER_LOCK, Number(id), pid ?? null],
  );
  return rows[0]?.owned ?? false;
}

/** The DataSource's own connection settings, for a session outside its pool. */
function connectionOf(dataSource: DataSource): pg.ClientConfig {
  const options = dataSource.options;
  if (options.type !== 'postgres') throw new Error(`a rebuild's owner session needs Postgres, not ${options.type}`);
  return {
    connectionString: options.url,
    host: options.host,
    port: options.port,
    user: options.username,
    password: typeof options.password === 'string' ? options.password : undefined,
    database: options.database,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
