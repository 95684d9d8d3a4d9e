import type { Writable } from 'node:stream';

import pg from 'pg';

/**
 * A session on which statements are sent as soon as they are issued, without waiting for the answer
 * to the one before (node-postgres' pipeline mode). The server still runs them one after another, in
 * the order issued, each with its own snapshot: the meaning of a transaction does not change, only
 * the number of round trips (each a system call and a wake-up on both sides, the dearest part of a
 * short statement on a small machine).
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

/** Whether statements issued on `db` one after another without awaiting go out together. */
export function isPipelined(db: object): db is PipelinedSession {
  return (db as Partial<PipelinedSession>).pipelined === true;
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

/** SQLSTATEs after which a connection's prepared statements cannot be trusted: it is closed, not reused. */
const PREPARED_STATEMENT_TROUBLE = new Set(['0A000', '26000']);

export interface PipelinedSqlOptions {
  readonly max: number;
  readonly applicationName: string;
}

/** A pool of pipelined Postgres connections for hot paths: transactions of a few round trips each. */
export class PipelinedSql {
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string, options: PipelinedSqlOptions) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max: options.max,
      application_name: options.applicationName,
      // node-postgres' pipeline mode (https://node-postgres.com/features/pipelining); not in its types yet.
      ...{ pipeline: true },
    });
    // An idle connection that breaks (a restarted server) is dropped by the pool; the next
    // transaction opens a new one. Without a listener the error would end the process.
    this.pool.on('error', () => undefined);
  }

  /**
   * Runs `work` in a transaction on a pipelined connection. Statements `work` issues and does not
   * await are sent before COMMIT and awaited with it: if any fails, the transaction is rolled back
   * and its error thrown.
   */
  async transaction<T>(work: (db: PipelinedSession) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const issued: Promise<unknown>[] = [];
    const session: PipelinedSession = {
      pipelined: true,
      query: (sql, parameters) => {
        const answer = run(client, sql, parameters);
        issued.push(answer);
        answer.catch(() => undefined); // awaited below, whether or not `work` awaited it
        return answer;
      },
    };
    try {
      void session.query('BEGIN');
      const result = await work(session);
      // COMMIT of a transaction a statement failed in only rolls it back: every answer is checked.
      void session.query('COMMIT');
      const failed = (await Promise.allSettled(issued)).find((answer) => answer.status === 'rejected');
      if (failed) throw failed.reason;
      client.release();
      return result;
    } catch (error) {
      await Promise.allSettled(issued);
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && PREPARED_STATEMENT_TROUBLE.has(code)) {
        client.release(error as Error);
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

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Connections whose socket is corked until the current tick ends. */
const corked = new WeakSet<pg.PoolClient>();

/**
 * Holds the connection's writes until the current tick ends, so that the statements issued one after
 * another without awaiting leave in one write: one system call, and one wake-up of the server.
 */
function corkUntilTickEnds(client: pg.PoolClient): void {
  if (corked.has(client)) return;
  // node-postgres' socket; its types do not show the connection.
  const socket = (client as unknown as { connection?: { stream?: Writable } }).connection?.stream;
  if (!socket) return;
  socket.cork();
  corked.add(client);
  process.nextTick(() => {
    corked.delete(client);
    socket.uncork();
  });
}

async function run(client: pg.PoolClient, text: string, values: readonly unknown[] | undefined): Promise<unknown> {
  corkUntilTickEnds(client);
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
