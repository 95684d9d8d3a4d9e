import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';

import { configureHttpApp, createHttpAdapter, createLogger, loadConfigOrExit } from '@app/platform';

import { ProjectionWorkerModule } from './projection-worker.module.js';
import { attachProjectionsTransport } from './start-worker.js';

// Read first: a configuration error stops the process with one clear message, before Nest starts.
const { http, logFormat } = loadConfigOrExit();
const logger = createLogger('projection-worker', logFormat);
const app = attachProjectionsTransport(
  configureHttpApp(
    await NestFactory.create(ProjectionWorkerModule, createHttpAdapter(), { bodyParser: false, logger }),
  ),
);
await app.startAllMicroservices();
await app.listen(http.projectionWorkerPort, http.host);
logger.log(`projections running; health on ${await app.getUrl()}`, 'projection-worker');
