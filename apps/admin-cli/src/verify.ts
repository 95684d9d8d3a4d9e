import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

import { KafkaConnection, deadLetterTopic } from '@app/messaging';
import { createDataSource, loadConfigOrExit, redact } from '@app/platform';
import { projections } from '@app/projections';

import { UsageError, VERIFY_EXIT, VERIFY_USAGE, parseVerifyArguments } from './verify-arguments.js';
import { runVerify } from './verify.command.js';

// `npm run verify -- [--projection <name>]... [--skip-topics] [--limit-differences <n>] [--json]`: see verify-arguments.ts.
let request;
try {
  request = parseVerifyArguments(
    process.argv.slice(2),
    projections.map((projection) => projection.name),
  );
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`verify: ${error.message}\nRun \`npm run verify -- --help\` for usage.\n`);
  process.exit(VERIFY_EXIT.usage);
}

if (request.kind === 'help') {
  process.stdout.write(`${VERIFY_USAGE}\n`);
  process.exit(VERIFY_EXIT.agree);
}

const config = loadConfigOrExit();
// Warnings and errors only, on stderr: stdout is the differences and the figures.
Logger.overrideLogger(['error', 'warn']);
let exitCode: number = VERIFY_EXIT.couldNotRun;
let dataSource: DataSource | undefined;
let readDataSource: DataSource | undefined;
try {
  dataSource = await createDataSource(config.databaseUrl, { applicationName: 'admin-cli-verify', poolSize: 2 });
  // A read store of its own (READ_DATABASE_URL) is read over its own connections: nothing joins the two.
  readDataSource =
    config.readDatabaseUrl === config.databaseUrl
      ? dataSource
      : await createDataSource(config.readDatabaseUrl, { applicationName: 'admin-cli-verify', poolSize: 2 });
  exitCode = await runVerify(
    request,
    {
      dataSource,
      readDataSource,
      kafka: new KafkaConnection(config.kafka),
      ordersTopic: config.kafka.ordersTopic,
      deadLetterTopic: deadLetterTopic(config).name,
    },
    { out: process.stdout, err: process.stderr },
  );
} catch (error) {
  const readStore =
    config.readDatabaseUrl === config.databaseUrl ? '' : `, read store ${redact(config.readDatabaseUrl)}`;
  // 42P01: a table of the snapshot's live generation is gone; a rebuild switched and dropped it meanwhile.
  const switched =
    (error as { code?: unknown }).code === '42P01'
      ? ' (a rebuild switched generations while verify ran: run it again)'
      : '';
  process.stderr.write(
    `verify could not run (${redact(config.databaseUrl)}${readStore}, brokers ${config.kafka.brokers.join(',')}): ${error instanceof Error ? error.message : String(error)}${switched}\n`,
  );
} finally {
  if (readDataSource !== dataSource) await readDataSource?.destroy();
  await dataSource?.destroy();
}
// Piped stdout is written asynchronously: let the differences out before exiting.
await new Promise<void>((resolve) =>
  process.stdout.write('', () => {
    resolve();
  }),
);
process.exit(exitCode);
