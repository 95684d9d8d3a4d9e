import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';

import { configureHttpApp, createHttpAdapter, createLogger, loadConfigOrExit } from '@app/platform';

import { CommandApiModule } from './command-api.module.js';
import { setupOpenApi } from './openapi.js';

// Read first: a configuration error stops the process with one clear message, before Nest starts.
const { http, logFormat } = loadConfigOrExit();
const logger = createLogger('command-api', logFormat);
const app = setupOpenApi(
  configureHttpApp(await NestFactory.create(CommandApiModule, createHttpAdapter(), { bodyParser: false, logger })),
);
await app.listen(http.commandApiPort, http.host);
logger.log(`listening on ${await app.getUrl()}; OpenAPI at /docs`, 'command-api');
