import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';

import { configureHttpApp, createHttpAdapter, createLogger, loadConfigOrExit } from '@app/platform';

import { setupOpenApi } from './openapi.js';
import { QueryApiModule } from './query-api.module.js';

// Read first: a configuration error stops the process with one clear message, before Nest starts.
const { http, logFormat } = loadConfigOrExit();
const logger = createLogger('query-api', logFormat);
const app = setupOpenApi(
  configureHttpApp(await NestFactory.create(QueryApiModule, createHttpAdapter(), { bodyParser: false, logger })),
);
await app.listen(http.queryApiPort, http.host);
logger.log(`listening on ${await app.getUrl()}; OpenAPI at /docs`, 'query-api');
