import type { Writable } from 'node:stream';

import pg from 'pg';
import type { EntityManager } from 'typeorm';

import { isPgError } from './prepare-database.js';

/**
 * Writing a hot path on it:
 * - leave a statement unawaited only if nothing reads its rows or its row count, and await every
 *   statement before any effect outside the transaction (a Kafka publish, an answer, memory);
 * - an async wrapper of your own left unawaited needs `.catch(() => undefined)` (the session guards
 *   only the statements' own promises; the transaction still reports the failure);
 * - code shared with TypeORM transactions awaits unless `isPipelined(db)`; a lock and a read that
 *   must see what the lock waited for stay two statements;
 * - keep SQL text constant and pass values as parameters: each parameterised text is prepared once
 *   per connection (at most 200 per connection, 800 per process; past that, unprepared);
 * - statements of one session run one after another: `Promise.all` saves round trips, not time on
 *   the server; cursors, streams and the `rows` option are refused in pipeline mode.
 *
 * A session on which statements are sent as soon as they are issued, without waiting for the answer
 * to the one before (node-postgres' pipeline mode). The server still runs them one after another, in
 * the order issued, each with its own snapshot, so what the statements do is what they would do one
 * at a time; only the number of round trips falls (each a system call and a wake-up on both sides,
 * the dearest part of a short statement on a small machine). What changes is for the caller: code
 * after an unawaited statement runs before that statement's answer, so it must not depend on it (the
 * transaction reports the failure at commit).
 *
 * `query` answers as TypeORM's `EntityManager.query` does (rows; `[rows, rowCount]` for UPDATE and
 * DELETE), so that code written for a TypeORM transaction runs on it unchanged.
 */
export interface PipelinedSession {
  readonly pipelined: true;
  // The result's shape is the caller's to state, as with TypeORM's `query`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(sql: string, parameters?: readonly unknown[]): Promise<any>;
}

/**
 * What code that runs in a transaction needs of its connection: a TypeORM transaction's manager, a
 * pipelined session, or any object with the same `query` (a test's client, a rebuild's owner session).
 */
export type SqlSession = Pick<EntityManager, 'query'>;

/** Whether statements issued on `db` one after another without awaiting go out together. */
export function isPipelined(db: object): db is PipelinedSession {
  return (db as Partial<PipelinedSession>).pipelined === true;
}

/**
 * Takes a lock, then reads in a later statement, whose snapshot is taken after the lock is granted
 * (a statement's own snapshot is taken before it waits): on a pipelined session both go out in one
 * round trip, otherwise one after the other. Returns what `read` answers.
 */
export async function lockThenRead<T>(
  db: SqlSession,
  lock: () => Promise<unknown>,
  read: () => Promise<T>,
): Promise<T> {
  const locking = lock();
  if (!isPipelined(db)) await locking;
  const [, rows] = await Promise.all([locking, read()]);
  return rows;
}

/**
 * Statements prepared (named) per connection: each is parsed and planned once per connection instead
 * of on every call. Bounded: a statement whose text varies from call to call would otherwise fill the
 * server's memory; past the bound, new texts run unnamed.
 */
const MAX_PREPARED_PER_CONNECTION = 200;
/** Names of statement texts, shared by every connection of the process. */
const statementNames = new Map<string, string>();
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

export interface PipelinedSqlOptions {
  readonly max: number;
  readonly applicationName: string;
  /**
   * `false`: a commit returns before its WAL reaches the disk (`synchronous_commit = off`). Only for
   * data that can be derived again: a crash of Postgres may lose the last fraction of a second of
   * commits, whole transactions at a time, never part of one. A read model loses its rows and the
   * offsets stored with them together, and applies those events again. Default `true`.
   */
  readonly synchronousCommit?: boolean;
  /**
   * Drops each connection's cached plans at most this often (`DISCARD PLANS`, sent with a
   * transaction's `BEGIN`; the prepared statements stay), so that they are made again from the
   * tables as they now are. After five calls Postgres may settle on a generic plan, which it keeps
   * until something invalidates it, an `ANALYZE` in the usual case: on a server that does not
   * analyze (autovacuum off), a plan made while a table was nearly empty (a sequential scan) would
   * stay while the table grows. Default: never.
   */
  readonly replanEveryMs?: number;
  /**
   * Postgres' `plan_cache_mode` on every connection. `force_generic_plan`: a prepared statement is
   * planned once per connection (and again after `replanEveryMs`), not for each call's values. For
   * key lookups (`id = ANY($1)`) Postgres otherwise keeps choosing a plan made for the call's own
   * few keys, as it looks cheaper than the generic one, and pays the planning on every call: more
   * than the execution for the statements of a projection's batch. Only for statements whose best
   * plan does not depend on their values, and with `replanEveryMs` where the server may not analyze.
   * Default: Postgres' (`auto`).
   */
  readonly planCacheMode?: 'auto' | 'force_generic_plan' | 'force_custom_plan';
}

/**
 * For pools that run key lookups only (`id = $1`, `id = ANY($1)`, upserts by key): each statement
 * planned once per connection, and again every 15 seconds, so that a plan follows its tables as they
 * grow on a server that does not analyze them. The projections' batches and the query API's reads.
 */
export const KEY_LOOKUP_PLANS = { planCacheMode: 'force_generic_plan', replanEveryMs: 15_000 } as const satisfies Pick<
  PipelinedSqlOptions,
  'planCacheMode' | 'replanEveryMs'
>;

/** The connections' settings, as libpq's `options` (`-c name=value …`), or none. */
function sessionSettings(options: PipelinedSqlOptions): { options?: string } {
  const settings = [
    ...(options.synchronousCommit === false ? ['-c synchronous_commit=off'] : []),
    ...(options.planCacheMode === undefined ? [] : [`-c plan_cache_mode=${options.planCacheMode}`]),
  ];
  return settings.length > 0 ? { options: settings.join(' ') } : {};
}

/** A pool of pipelined Postgres connections for hot paths: transactions of a few round trips each. */
export class PipelinedSql {
  private readonly pool: pg.Pool;
  private readonly replanEveryMs: number | undefined;
  /** When each connection's cached plans were last dropped, or it was first used. */
  private readonly plannedSince = new WeakMap<pg.PoolClient, number>();

  constructor(databaseUrl: string, options: PipelinedSqlOptions) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: options.max,
      application_name: options.applicationName,
      ...sessionSettings(options),
      // node-postgres' pipeline mode (https://node-postgres.com/features/pipelining).
      pipeline: true,
    });
    // An idle connection that breaks (a restarted server) is dropped by the pool; the next
    // transaction opens a new one. Without a listener the error would end the process.
    this.pool.on('error', () => undefined);
    this.replanEveryMs = options.replanEveryMs;
    // A connection in use that breaks (a server shut down, a terminated backend) fails its statements,
    // which report it, and emits 'error' too: ignored here, so it does not end the process. The pool
    // does not take it back.
    this.pool.on('connect', (client) => {
      client.on('error', () => undefined);
    });
  }

  /**
   * Runs `work` in a transaction on a pipelined connection. Statements `work` issues and does not
   * await are sent before COMMIT and answered with it. The transaction fails if `work` throws or if
   * the commit finds the transaction aborted by a failed statement (a failure `work` undid with
   * ROLLBACK TO SAVEPOINT does not count); it then throws the first failed statement's error.
   */
  async transaction<T>(work: (db: PipelinedSession) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const issued: Promise<unknown>[] = [];
    const session: PipelinedSession = {
      pipelined: true,
      query: (sql, parameters) => {
        const answer = run(client, sql, parameters);
        issued.push(answer);
        answer.catch(() => undefined); // settled below, whether or not `work` awaited it
        return answer;
      },
    };
    /** The errors of the statements that failed, in the order they were issued: the first caused what followed. */
    const failures = async (): Promise<unknown[]> =>
      (await Promise.allSettled(issued)).flatMap((answer): unknown[] =>
        answer.status === 'rejected' ? [answer.reason as unknown] : [],
      );
    try {
      if (this.replanDue(client)) void session.query('DISCARD PLANS');
      void session.query('BEGIN');
      const result = await work(session);
      const committing = client.query('COMMIT');
      const [committed] = await Promise.allSettled([committing]);
      // COMMIT of an aborted transaction answers ROLLBACK, without an error.
      if (committed.status === 'rejected' || committed.value.command !== 'COMMIT') {
        throw (await failures())[0] ?? (committed.status === 'rejected' ? committed.reason : new Error('rolled back'));
      }
      await Promise.allSettled(issued);
      client.release();
      return result;
    } catch (thrown) {
      const rejected = await failures();
      // A statement that ran in a transaction an earlier failure had aborted says only that: name the cause.
      const error = isPgError(thrown, '25P02') && rejected.length > 0 ? rejected[0] : thrown;
      if ([error, ...rejected].some(hasPreparedStatementTrouble)) {
        client.release(new Error('prepared statements went stale: connection closed'));
      } else {
        await client.query('ROLLBACK').then(
          () => {
            client.release();
          },
          (rollbackError: unknown) => {
            client.release(rollbackError as Error);
          },
        );
      }
      throw error;
    }
  }

  private replanDue(client: pg.PoolClient): boolean {
    if (this.replanEveryMs === undefined) return false;
    const now = Date.now();
    const since = this.plannedSince.get(client);
    if (since !== undefined && now - since < this.replanEveryMs) return false;
    this.plannedSince.set(client, now);
    return since !== undefined; // a connection's first transaction has no plans to drop
  }

  /** One statement on its own (its own transaction), prepared like those of `transaction`. */
  async query<T>(sql: string, parameters?: readonly unknown[]): Promise<T> {
    const client = await this.pool.connect();
    try {
      const rows = (await run(client, sql, parameters)) as T;
      client.release();
      return rows;
    } catch (error) {
      // The pool drops a broken connection itself; one whose prepared statements went stale is dropped here.
      client.release(hasPreparedStatementTrouble(error) ? (error as Error) : undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * A prepared statement that no longer fits its tables ("cached plan must not change result type",
 * after a migration changed a table under it) or is gone: the connection must be closed, and the
 * work run again on another one.
 */
export function hasPreparedStatementTrouble(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    code === '26000' || // invalid_sql_statement_name
    (code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type'))
  );
}

/** Connections whose socket is corked until the current turn of the event loop ends. */
const corked = new WeakSet<pg.PoolClient>();

/**
 * Holds the connection's writes until the current turn of the event loop ends (its promise
 * continuations included, so a transaction's last statements and its COMMIT go together): the
 * statements issued without awaiting leave in one write, one system call and one wake-up of the
 * server.
 */
function corkUntilTurnEnds(client: pg.PoolClient): void {
  if (corked.has(client)) return;
  // node-postgres' socket; its types do not show the connection.
  const socket = (client as unknown as { connection?: { stream?: Writable } }).connection?.stream;
  if (!socket) return;
  socket.cork();
  corked.add(client);
  setImmediate(() => {
    corked.delete(client);
    socket.uncork();
  });
}

async function run(client: pg.PoolClient, text: string, values: readonly unknown[] | undefined): Promise<unknown> {
  corkUntilTurnEnds(client);
  const name = values === undefined ? undefined : preparedName(client, text);
  const result = await client.query({ text, values: values as unknown[] | undefined, name });
  return result.command === 'UPDATE' || result.command === 'DELETE' ? [result.rows, result.rowCount] : result.rows;
}

function preparedName(client: pg.PoolClient, text: string): string | undefined {
  let prepared = preparedOn.get(client);
  if (!prepared) preparedOn.set(client, (prepared = new Set()));
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= MAX_PREPARED_PER_CONNECTION * 4) return undefined;
    name = `p${String(statementNames.size + 1)}`;
    statementNames.set(text, name);
  }
  if (!prepared.has(name)) {
    if (prepared.size >= MAX_PREPARED_PER_CONNECTION) return undefined;
    prepared.add(name);
  }
  return name;
}
