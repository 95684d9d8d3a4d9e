import pg from 'pg';
import { DataSource, type MigrationInterface } from 'typeorm';

import type { AppConfig } from '../config/app-config.js';

export type MigrationClass = new () => MigrationInterface;

/**
 * The databases a configuration names: the event store's, then the read store's when it is
 * another. Every one is created and migrated alike: one migration history, the whole schema in
 * each; each process uses only its side's tables (docs/adr/0011-a-read-store-of-its-own.md).
 */
export function configuredDatabases(config: Pick<AppConfig, 'databaseUrl' | 'readDatabaseUrl'>): string[] {
  return config.readDatabaseUrl === config.databaseUrl
    ? [config.databaseUrl]
    : [config.databaseUrl, config.readDatabaseUrl];
}

/** A lock id for "someone is migrating this database"; any constant works, it only has to be shared. */
const MIGRATION_LOCK_ID = 7_243_001;

/** Creates the database named in the URL when it does not exist yet. Safe to run concurrently. */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return false;
    await client.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
    return true;
  } catch (error) {
    if (isPgError(error, '42P04')) return false; // created by a concurrent run meanwhile
    throw error;
  } finally {
    await client.end();
  }
}

/**
 * Applies pending migrations in one transaction, under an advisory lock so that two processes
 * starting together do not race. Returns the names of the migrations it applied.
 */
export async function runMigrations(databaseUrl: string, migrations: readonly MigrationClass[]): Promise<string[]> {
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  const dataSource = new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: [...migrations],
    migrationsTableName: 'typeorm_migrations',
    migrationsTransactionMode: 'all',
    logging: ['error'],
  });
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await dataSource.initialize();
    const applied = await dataSource.runMigrations();
    return applied.map((migration) => migration.name);
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await lock.end(); // ending the session releases the advisory lock
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function isPgError(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
