// `npm run bench [-- --quick | --help …]`: builds, brings up Kafka and checks Postgres as `npm test`
// does, runs the benchmark (scripts/bench/main.ts, compiled) and stops a broker it started.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { defaultDatabaseUrl, ensureKafka, ensurePostgres, repo, run } from './lib/infra.mjs';

const args = process.argv.slice(2);
const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? defaultDatabaseUrl };
const main = join(repo, 'dist', 'scripts', 'bench', 'main.js');

let stopKafka = async () => {};
let exitCode = 1;
try {
  await run('npm', ['run', '--silent', 'build'], { env }); // incremental: seconds
  if (!args.includes('--help')) {
    await ensurePostgres(env.DATABASE_URL);
    stopKafka = await ensureKafka();
  }
  // Its own exit code, not run()'s: 2 for a bad option, 1 for a failed run.
  exitCode = await new Promise((resolve) => {
    spawn(process.execPath, [main, ...args], { env, cwd: repo, stdio: 'inherit' }).on('exit', (code) => {
      resolve(code ?? 1);
    });
  });
} catch (error) {
  console.error(error.message);
} finally {
  await stopKafka();
}
process.exit(exitCode);
