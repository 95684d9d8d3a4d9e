import type { INestApplication } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';

import { createOpenApiDocument, serveOpenApi, type AppConfig, type OpenApiInfo } from '@app/platform';

const info = (http: AppConfig['http']): OpenApiInfo => ({
  title: 'Orders query API',
  description:
    'Reads the read models only; the admin endpoints (bearer ADMIN_TOKEN) manage projections and parked events. ' +
    'Amounts are exact integers in minor units: a JSON number while it is a safe integer (at most 2^53 - 1), ' +
    'otherwise a string of decimal digits.',
  port: http.queryApiPort,
});

/** The query API's OpenAPI document, generated from the controllers and response classes (also without a running server). */
export function buildOpenApiDocument(app: INestApplication, http: AppConfig['http']): OpenAPIObject {
  return createOpenApiDocument(app, http, info(http));
}

/** Swagger UI at /docs and the document at /docs/openapi.json, as the command API serves its own. */
export function setupOpenApi(app: INestApplication): INestApplication {
  return serveOpenApi(app, info);
}
