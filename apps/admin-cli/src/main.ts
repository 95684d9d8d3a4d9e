import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

import { KafkaConnection } from '@app/messaging';
import { createDataSource, loadConfigOrExit } from '@app/platform';
import { projections } from '@app/projections';

import { UsageError, parseReplayArguments } from './replay-arguments.js';
import { EXIT, runReplay } from './replay.command.js';

// `npm run replay -- <projection> | --all [--order <id>] [--dry-run]`: see replay-arguments.ts.
const names = projections.map((projection) => projection.name);
let request;
try {
  request = parseReplayArguments(process.argv.slice(2), names);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`replay: ${error.message}\nRun \`npm run replay -- --help\` for usage.\n`);
  process.exit(EXIT.usage);
}

const config = loadConfigOrExit();
// Warnings and errors only: the progress bars are the output.
Logger.overrideLogger(['error', 'warn']);
const interrupt = new AbortController();
process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: cancelling; the live generation keeps serving\n');
  interrupt.abort();
});
process.once('SIGTERM', () => {
  interrupt.abort();
});

const kafka = new KafkaConnection(config.kafka);
let exitCode: number = EXIT.failed;
let dataSource: DataSource | undefined;
try {
  dataSource = await createDataSource(config.readDatabaseUrl, { applicationName: 'admin-cli', poolSize: 8 });
  exitCode = await runReplay(
    request,
    { dataSource, kafka, topic: config.kafka.ordersTopic, groupPrefix: config.kafka.groupPrefix },
    projections,
    { out: process.stdout, signal: interrupt.signal },
  );
} catch (error) {
  process.stderr.write(`replay failed: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await dataSource?.destroy();
}
process.exit(exitCode);
