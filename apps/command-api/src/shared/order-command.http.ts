import { createHash } from 'node:crypto';

import {
  BadRequestException,
  Inject,
  Injectable,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { mergeMap, type Observable } from 'rxjs';

import { currentCorrelationId, IdGenerator } from '@app/platform';

import {
  OrderCommandHandler,
  startsOrder,
  type CommandOutcome,
  type CommandRequestContext,
  type OrderCommandCall,
} from './order-command.handler.js';
import type { OrderCommandResponse } from './order-command.response.js';

/**
 * The HTTP edge of every command, and the one file of the command API that knows the HTTP adapter
 * (Fastify): reads the request into a CommandRequestContext, runs the command the controller returned
 * and writes the outcome's status and headers. `@OrderCommandEndpoint` puts it on every command
 * endpoint, so controllers stay a mapping from request DTO to domain command, and the handler stays
 * callable without a request.
 */
@Injectable()
export class OrderCommandHttp implements NestInterceptor<OrderCommandCall, OrderCommandResponse> {
  constructor(
    @Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler,
    @Inject(IdGenerator) private readonly ids: IdGenerator,
  ) {}

  // After the controller, whose pipes ran first: a bad field is answered before a bad header, as it always was.
  intercept(http: ExecutionContext, next: CallHandler<OrderCommandCall>): Observable<OrderCommandResponse> {
    const request = http.switchToHttp().getRequest<FastifyRequest>();
    const response = http.switchToHttp().getResponse<FastifyReply>();
    return next.handle().pipe(
      mergeMap(async ({ orderId, command }) => {
        const context = commandRequestContext(request, this.ids, { acceptsIfMatch: !startsOrder(command) });
        return answer(response, await this.commands.execute(orderId, command, context));
      }),
    );
  }
}

function answer(response: FastifyReply, { status, headers, replayed, body }: CommandOutcome): OrderCommandResponse {
  void response.code(status);
  void response.headers(headers);
  if (replayed) void response.header('Idempotent-Replayed', 'true');
  return body;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;
const STRONG_ETAG = /^"(\d{1,9})"$/;
const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

function commandRequestContext(
  request: FastifyRequest,
  ids: IdGenerator,
  { acceptsIfMatch }: { acceptsIfMatch: boolean },
): CommandRequestContext {
  const idempotencyKey = header(request, 'idempotency-key');
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw badHeader('Idempotency-Key', 'must be 1 to 255 visible ASCII characters');
  }
  const traceparent = header(request, 'traceparent');
  return {
    idempotencyKey,
    fingerprint: fingerprint(request),
    expectedVersion: acceptsIfMatch ? parseIfMatch(header(request, 'if-match')) : undefined,
    metadata: {
      // Set for every request by the platform's middleware: the caller's when well-formed, else a new one.
      correlationId: currentCorrelationId() ?? ids.next(),
      causationId: ids.next(),
      traceparent: traceparent && TRACEPARENT.test(traceparent) ? traceparent : undefined,
      idempotencyKey,
    },
  };
}
/** `If-Match: "3"` pins the command to version 3; `*` (any version) pins nothing. */
function parseIfMatch(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '*') return undefined;
  const match = STRONG_ETAG.exec(value.trim());
  if (!match?.[1]) throw badHeader('If-Match', 'must be the ETag of a response, like "3"');
  return Number(match[1]);
}

/** Of the method, the path (as sent, without the query) and the body. */
function fingerprint(request: FastifyRequest): string {
  const path = request.url.split('?', 1)[0] ?? request.url;
  return createHash('sha256')
    .update(`${request.method} ${path}\n${canonicalJson(request.body)}`)
    .digest('base64url');
}

/** JSON with object keys sorted, so the same body always gives the same fingerprint. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function badHeader(name: string, problem: string): BadRequestException {
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: `${name} ${problem}`,
    fields: [{ field: name, errors: [`${name} ${problem}`] }],
  });
}
