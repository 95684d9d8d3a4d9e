import type { INestApplication } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';

import { createOpenApiDocument, serveOpenApi, type AppConfig, type OpenApiInfo } from '@app/platform';

const info = (http: AppConfig['http']): OpenApiInfo => ({
  title: 'Orders command API',
  description:
    'Commands that change orders. Every response that changes an order carries its new version and an ETag; ' +
    'every command accepts Idempotency-Key. Read orders from the query API.',
  port: http.commandApiPort,
});

/** The OpenAPI document, generated from the controllers and request DTOs (also without a running server). */
export function buildOpenApiDocument(app: INestApplication, http: AppConfig['http']): OpenAPIObject {
  return createOpenApiDocument(app, http, info(http));
}

/** Swagger UI at /docs and the document at /docs/openapi.json. */
export function setupOpenApi(app: INestApplication): INestApplication {
  return serveOpenApi(app, info);
}
