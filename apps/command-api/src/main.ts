import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { APP_CONFIG, configureHttpApp, type AppConfig } from '@app/platform';

import { CommandApiModule } from './command-api.module.js';
import { setupOpenApi } from './openapi.js';

const app = setupOpenApi(configureHttpApp(await NestFactory.create(CommandApiModule, { bodyParser: false })));
const { http } = app.get<AppConfig>(APP_CONFIG);
await app.listen(http.commandApiPort, http.host);
new Logger('command-api').log(`listening on ${await app.getUrl()}; OpenAPI at /docs`);
