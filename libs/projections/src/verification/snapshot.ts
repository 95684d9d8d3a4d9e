import type { DataSource } from 'typeorm';

import type { Sql, VerifySources } from './sql.js';

/**
 * Runs `read` with every query of each side inside one REPEATABLE READ, READ ONLY transaction, so
 * events and rows committed while verification reads do not show as differences. One database
 * (`readModels` omitted or the same DataSource): one snapshot for both sides. Two: the read side's
 * snapshot is taken first, so the store's holds every event the read models reflect (a later event
 * reads as not applied yet, as it would in one snapshot taken while the projections lag).
 */
export async function withSnapshot<T>(
  store: DataSource,
  readModels: DataSource | undefined,
  read: (sources: VerifySources) => Promise<T>,
): Promise<T> {
  if (readModels === undefined || readModels === store) {
    return inSnapshot(store, (sql) => read({ store: sql, read: sql }));
  }
  return inSnapshot(readModels, (readSql) => inSnapshot(store, (storeSql) => read({ store: storeSql, read: readSql })));
}

async function inSnapshot<T>(dataSource: DataSource, read: (sql: Sql) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // The snapshot is taken by the first statement, not by BEGIN: take it now, before the other side's.
    await runner.query('SELECT 1');
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
