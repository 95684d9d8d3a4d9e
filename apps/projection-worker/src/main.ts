import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { APP_CONFIG, configureHttpApp, type AppConfig } from '@app/platform';

import { ProjectionWorkerModule } from './projection-worker.module.js';
import { attachProjectionsTransport } from './start-worker.js';

const app = attachProjectionsTransport(configureHttpApp(await NestFactory.create(ProjectionWorkerModule, { bodyParser: false })));
await app.startAllMicroservices();
const { http } = app.get<AppConfig>(APP_CONFIG);
await app.listen(http.projectionWorkerPort, http.host);
new Logger('projection-worker').log(`projections running; health on ${await app.getUrl()}`);
