import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** The query API's OpenAPI document, generated from the controllers and response classes. */
export function buildOpenApiDocument(app: INestApplication): ReturnType<typeof SwaggerModule.createDocument> {
  const config = new DocumentBuilder()
    .setTitle('Orders query API')
    .setDescription(
      'Reads the read models only. Amounts are exact integers in minor units: a JSON number while it is a ' +
        'safe integer (at most 2^53 - 1), otherwise a string of decimal digits.',
    )
    .setVersion('1')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Swagger UI at /docs and the document at /docs/openapi.json, as the command API serves its own. */
export function setupOpenApi(app: INestApplication): INestApplication {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
