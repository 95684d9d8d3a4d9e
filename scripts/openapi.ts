/**
 * Writes the OpenAPI document of each HTTP API, as it serves it at /docs/openapi.json, without
 * starting it: Nest builds each app's module graph in preview mode (no provider runs, so no
 * database or broker is needed) and the documents are generated from the controllers.
 *
 *   node dist/scripts/openapi.js <folder>     writes <folder>/command-api.json and <folder>/query-api.json
 *
 * `npm run openapi:lint` writes them into dist/openapi and lints them with Redocly. `servers` comes
 * from HOST and the API ports, as the running apps have it.
 */
import 'reflect-metadata';

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';

import { buildCommandApiDocument, CommandApiModule } from '@app/command-api';
import { createHttpAdapter, loadConfigOrExit, type AppConfig } from '@app/platform';
import { buildQueryApiDocument, QueryApiModule } from '@app/query-api';

type Build = (app: INestApplication, http: AppConfig['http']) => OpenAPIObject;

const APIS: readonly { file: string; module: Type; build: Build }[] = [
  { file: 'command-api.json', module: CommandApiModule, build: buildCommandApiDocument },
  { file: 'query-api.json', module: QueryApiModule, build: buildQueryApiDocument },
];

const [folder, ...extra] = process.argv.slice(2);
if (folder === undefined || extra.length > 0) {
  console.error('usage: node dist/scripts/openapi.js <folder>');
  process.exit(2);
}
const { http } = loadConfigOrExit();
mkdirSync(resolve(folder), { recursive: true });
for (const { file, module, build } of APIS) {
  const app = await NestFactory.create(module, createHttpAdapter(), { preview: true, logger: false });
  const path = join(resolve(folder), file);
  writeFileSync(path, `${JSON.stringify(build(app, http), null, 2)}\n`);
  await app.close();
  console.log(`openapi: wrote ${path}`);
}
