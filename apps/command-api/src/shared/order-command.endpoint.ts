import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse } from '@nestjs/swagger';

import { OrderCommandHttp } from './order-command.http.js';
import { ErrorResponse, ServerErrorResponse } from '@app/platform';

import { OrderCommandResponse } from './order-command.response.js';

/**
 * Makes a controller method a command endpoint: the method returns an OrderCommandCall, OrderCommandHttp
 * runs it and answers with its outcome. Also the OpenAPI description every command endpoint shares: its
 * headers and its answers.
 */
export function OrderCommandEndpoint({
  summary,
  operationId,
  creates = false,
}: {
  summary: string;
  /** The operation's name in the OpenAPI document, for generated clients. */
  operationId: string;
  creates?: boolean;
}): MethodDecorator {
  const errors: [number, string, typeof ErrorResponse | typeof ServerErrorResponse][] = [
    [400, 'Invalid input: the body names each bad field (or header); unknown fields are rejected.', ErrorResponse],
    [404, 'No such order (or, removing a line, no such line).', ErrorResponse],
    [409, 'A rule of the order forbids it; `code` says which (CONCURRENT_MODIFICATION: retry).', ErrorResponse],
    [412, 'If-Match names a version the order is no longer at.', ErrorResponse],
    [413, 'The body is too large, or the event it would append is (EVENT_TOO_LARGE).', ErrorResponse],
    [415, 'The body is not JSON.', ErrorResponse],
    [422, 'The Idempotency-Key was used before for a different request.', ErrorResponse],
    [500, "The order's history cannot be read (EVENT_UNREADABLE), or the server failed.", ServerErrorResponse],
    [
      503,
      "A newer deployment wrote part of the order's history (EVENT_VERSION_NEWER_THAN_SERVICE): another instance, or this one upgraded, can serve it.",
      ServerErrorResponse,
    ],
  ];
  // A new order has no history yet: nothing to find, to pin or to misread.
  const notForNewOrders = new Set([404, 412, 503]);
  return applyDecorators(
    UseInterceptors(OrderCommandHttp),
    ApiOperation({ summary, operationId }),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: 'Retries with the same key answer the first response (24 h by default) and change nothing.',
    }),
    ...(creates
      ? []
      : [
          ApiHeader({
            name: 'If-Match',
            required: false,
            description: 'The ETag of the version the command was decided from, e.g. "3": 412 if the order moved on.',
          }),
        ]),
    ApiResponse({
      status: creates ? 201 : 200,
      type: OrderCommandResponse,
      description: creates
        ? 'Placed; Location and ETag headers are set.'
        : 'Done; the ETag header carries the new version.',
      headers: {
        ETag: {
          description: 'The new version, quoted: pass it as If-Match.',
          schema: { type: 'string', example: '"1"' },
        },
        'Idempotent-Replayed': {
          description: '`true` when this is the recorded answer to an earlier request with the same Idempotency-Key.',
          schema: { type: 'string', enum: ['true'] },
        },
        ...(creates
          ? { Location: { description: 'The new order, at the query API.', schema: { type: 'string' } } }
          : {}),
      },
    }),
    ...errors
      .filter(([status]) => !(creates && notForNewOrders.has(status)))
      .map(([status, description, type]) => ApiResponse({ status, description, type })),
  );
}
