/**
 * Creates the database named in DATABASE_URL when missing and applies pending migrations.
 * Safe to run again and from several processes at once. `npm run db:migrate`.
 */
import { migrations } from '@app/migrations';
import { ensureDatabaseExists, loadConfigOrExit, redact, runMigrations } from '@app/platform';

const { databaseUrl } = loadConfigOrExit();
const created = await ensureDatabaseExists(databaseUrl);
const applied = await runMigrations(databaseUrl, migrations);
console.log(
  `database ${redact(databaseUrl)}: ${created ? 'created' : 'exists'}; ` +
    (applied.length ? `applied ${applied.join(', ')}` : 'schema up to date'),
);
