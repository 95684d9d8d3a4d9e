import type { INestApplication, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type request from 'supertest';

import { APP_CONFIG, configureHttpApp, createHttpAdapter, type AppConfig } from '@app/platform';

export type TestServer = Parameters<typeof request>[0];
export type TestApp = INestApplication<TestServer>;

/**
 * Starts one app module in-process on the test environment's configuration, configured exactly as
 * its main.ts does (`prepare` adds what main adds on top, such as OpenAPI or the projections
 * transport). Supertest talks to it without a port.
 */
export async function startTestApp(
  module: Type,
  config: AppConfig,
  prepare: (app: TestApp) => unknown = () => undefined,
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule({ imports: [module] })
    .overrideProvider(APP_CONFIG)
    .useValue(config)
    .compile();
  const app = configureHttpApp(
    moduleRef.createNestApplication<TestApp>(createHttpAdapter(), { bodyParser: false }),
  ) as TestApp;
  app.useLogger(['error', 'warn']);
  await prepare(app);
  await app.init();
  // Fastify adds its routes when it is ready; supertest talks to its server without listening.
  await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  return app;
}
