import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { APP_CONFIG, configureHttpApp, type AppConfig } from '@app/platform';

import { QueryApiModule } from './query-api.module.js';

const app = configureHttpApp(await NestFactory.create(QueryApiModule, { bodyParser: false }));
const { http } = app.get<AppConfig>(APP_CONFIG);
await app.listen(http.queryApiPort, http.host);
new Logger('query-api').log(`listening on ${await app.getUrl()}`);
