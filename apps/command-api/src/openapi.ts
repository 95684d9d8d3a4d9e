import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** The OpenAPI document, generated from the controllers and request DTOs, with Swagger UI at /docs. */
export function setupOpenApi(app: INestApplication): INestApplication {
  const config = new DocumentBuilder()
    .setTitle('Orders command API')
    .setDescription(
      'Commands that change orders. Every response that changes an order carries its new version and an ETag; ' +
        'every command accepts Idempotency-Key. Read orders from the query API.',
    )
    .setVersion('1')
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  return app;
}
