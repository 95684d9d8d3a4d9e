import type { INestApplication, Type } from '@nestjs/common';
import {
  ApiProperty,
  type ApiPropertyOptions,
  DocumentBuilder,
  getSchemaPath,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
} from '@nestjs/swagger';

import { APP_CONFIG, localUrl, type AppConfig } from '../config/app-config.js';

/** The security scheme of the admin endpoints: `@ApiBearerAuth(ADMIN_BEARER)` on their controllers. */
export const ADMIN_BEARER = 'adminToken';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** What each API says about itself; the rest of the document is the same for every API. */
export interface OpenApiInfo {
  readonly title: string;
  readonly description: string;
  /** The port the API listens on, from the configuration. */
  readonly port: number;
}

/**
 * Every error the APIs answer, whoever answers it: validation (400, with `fields`), a rule of the
 * order or a read model behind (409, with `code`), the HTTP setup's 413 and 415, the admin guard's 401.
 */
export class FieldErrorResponse {
  @ApiProperty({ example: 'lines.0.quantity', description: 'The path of the field, its indexes included.' })
  readonly field!: string;

  @ApiProperty({ type: [String], example: ['quantity must not be less than 1'] })
  readonly errors!: readonly string[];
}

export class ErrorResponse {
  @ApiProperty({ type: 'integer', example: 409, description: 'The HTTP status again.' })
  readonly statusCode!: number;

  @ApiProperty({ example: 'Conflict', description: "The status's reason phrase." })
  readonly error!: string;

  @ApiProperty({
    required: false,
    description: 'A stable code of the failure where there are several of one status: match on it, not on `message`.',
    example: 'ORDER_NOT_PLACED',
  })
  readonly code?: string;

  @ApiProperty({ description: 'For people: may change at any time.' })
  readonly message!: string;

  @ApiProperty({
    type: [FieldErrorResponse],
    required: false,
    description: '400 only: each invalid field, header or parameter by its path, with what is wrong with it.',
  })
  readonly fields?: readonly FieldErrorResponse[];
}

/** A failure of the server, never of the request: NestJS answers an unexpected error with this alone. */
export class ServerErrorResponse {
  @ApiProperty({ type: 'integer', example: 500 })
  readonly statusCode!: number;

  @ApiProperty({ example: 'Internal server error' })
  readonly message!: string;

  @ApiProperty({ required: false, example: 'Internal Server Error' })
  readonly error?: string;

  @ApiProperty({ required: false, example: 'EVENT_UNREADABLE' })
  readonly code?: string;
}

/**
 * The OpenAPI document of one API, generated from its controllers: `servers` from the configured
 * address, the admin bearer scheme where admin endpoints use it, every operation that is not an
 * admin one declared public (`security: []`) so a reader never has to guess whether it wants a
 * token, and the answers the HTTP setup gives on every route.
 */
export function createOpenApiDocument(
  app: INestApplication,
  http: AppConfig['http'],
  { title, description, port }: OpenApiInfo,
): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(title)
    .setDescription(description)
    .setVersion('1')
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    .addServer(serverUrl(http.host, port), 'As configured (HOST and the port of this API).')
    .build();
  const document = SwaggerModule.createDocument(app, config, { extraModels: [ErrorResponse, ServerErrorResponse] });
  const operations = Object.values(document.paths).flatMap((path) =>
    HTTP_METHODS.flatMap((method) => (path[method] ? [{ method, operation: path[method] }] : [])),
  );
  for (const { method, operation } of operations) {
    operation.security ??= [];
    operation.responses = { ...platformResponses(method), ...operation.responses };
  }
  if (operations.some(({ operation }) => operation.security?.some((scheme) => ADMIN_BEARER in scheme))) {
    document.components = {
      ...document.components,
      securitySchemes: {
        [ADMIN_BEARER]: {
          type: 'http',
          scheme: 'bearer',
          description: 'The ADMIN_TOKEN the API was started with; without one every admin request answers 401.',
        },
      },
    };
  }
  return document;
}

const errorContent = (schema: typeof ErrorResponse | typeof ServerErrorResponse) => ({
  'application/json': { schema: { $ref: getSchemaPath(schema) } },
});

/**
 * What the HTTP setup (configure-http-app.ts) and Fastify answer on every route, before or around its
 * controller; an operation documents its own answers of the same statuses more precisely.
 */
function platformResponses(method: (typeof HTTP_METHODS)[number]): OperationObject['responses'] {
  const always = {
    400: {
      description: 'The request is malformed: its URL, a parameter, a header or the body; `fields` names each bad one.',
      content: errorContent(ErrorResponse),
    },
    500: {
      description:
        'The server failed, not the request (a dependency down, a bug). Safe to retry a command with its Idempotency-Key.',
      content: errorContent(ServerErrorResponse),
    },
  };
  if (method === 'get') {
    // A GET whose If-None-Match names the ETag of the answer it would give is answered 304 (configure-http-app.ts).
    return { ...always, 304: { description: 'Not modified: If-None-Match names the current ETag.' } };
  }
  return {
    ...always,
    413: {
      description: 'The body is larger than HTTP_BODY_LIMIT_BYTES (64 kB by default).',
      content: errorContent(ErrorResponse),
    },
    415: {
      description:
        'The body is not JSON (Content-Type: application/json), is declared in a charset other than UTF-8, or has a content coding that is not supported.',
      content: errorContent(ErrorResponse),
    },
  };
}

/** Swagger UI at /docs and the document at /docs/openapi.json, built once on first request. */
export function serveOpenApi(app: INestApplication, info: (http: AppConfig['http']) => OpenApiInfo): INestApplication {
  const { http } = app.get<AppConfig>(APP_CONFIG);
  SwaggerModule.setup('docs', app, () => createOpenApiDocument(app, http, info(http)), {
    jsonDocumentUrl: 'docs/openapi.json',
  });
  return app;
}

/**
 * A property that holds one of `model` or null. OpenAPI 3.0's `nullable` only widens a `type` beside
 * it, never a `$ref` (3.0.3 says so), so the null is a branch of its own: a schema whose only value is null.
 */
export function nullableRef(model: Type): ApiPropertyOptions {
  return { oneOf: [{ $ref: getSchemaPath(model) }, { type: 'object', nullable: true, enum: [null] }] };
}

/**
 * Where clients reach the API. A wildcard listen address is not one a client can use: it names this
 * machine's loopback instead (behind a proxy, the proxy's address is the one to give clients).
 */
export function serverUrl(host: string, port: number): string {
  return localUrl(host, port);
}
