import type { DataSource } from 'typeorm';

import type { Sql } from './sql.js';

/**
 * Runs `read` inside one REPEATABLE READ, READ ONLY transaction: every query sees the same
 * snapshot, so events and rows committed while verification reads do not show as differences.
 */
export async function withSnapshot<T>(dataSource: DataSource, read: (sql: Sql) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const sql: Sql = {
      async query<Row>(text: string, parameters: readonly unknown[] = []): Promise<Row[]> {
        return (await runner.query(text, [...parameters])) as Row[];
      },
    };
    return await read(sql);
  } finally {
    await runner.query('ROLLBACK').catch(() => undefined);
    await runner.release();
  }
}
