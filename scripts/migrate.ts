/**
 * Creates the databases named in DATABASE_URL and READ_DATABASE_URL when missing and applies
 * pending migrations to each (both carry the whole schema: docs/adr/0011-a-read-store-of-its-own.md).
 * Safe to run again and from several processes at once. `npm run db:migrate`.
 */
import { migrations } from '@app/migrations';
import { configuredDatabases, ensureDatabaseExists, loadConfigOrExit, redact, runMigrations } from '@app/platform';

const config = loadConfigOrExit();
for (const databaseUrl of configuredDatabases(config)) {
  const created = await ensureDatabaseExists(databaseUrl);
  const applied = await runMigrations(databaseUrl, migrations);
  const role = databaseUrl === config.databaseUrl ? 'database' : 'read database';
  console.log(
    `${role} ${redact(databaseUrl)}: ${created ? 'created' : 'exists'}; ` +
      (applied.length ? `applied ${applied.join(', ')}` : 'schema up to date'),
  );
}
