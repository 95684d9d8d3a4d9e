import { applyDecorators, UseInterceptors } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse } from '@nestjs/swagger';

import { OrderCommandHttp } from './order-command.http.js';
import { ErrorResponse, OrderCommandResponse } from './order-command.response.js';

/**
 * Makes a controller method a command endpoint: the method returns an OrderCommandCall, OrderCommandHttp
 * runs it and answers with its outcome. Also the OpenAPI description every command endpoint shares: its
 * headers and its answers.
 */
export function OrderCommandEndpoint({
  summary,
  creates = false,
}: {
  summary: string;
  creates?: boolean;
}): MethodDecorator {
  const errors: [number, string][] = [
    [400, 'Invalid input: the body names each bad field; unknown fields are rejected.'],
    [404, 'No such order (or, removing a line, no such line).'],
    [409, 'A rule of the order forbids it; `code` says which.'],
    [412, 'If-Match names a version the order is no longer at.'],
    [413, 'The body is too large.'],
    [415, 'The body is not JSON.'],
    [422, 'The Idempotency-Key was used before for a different request.'],
  ];
  return applyDecorators(
    UseInterceptors(OrderCommandHttp),
    ApiOperation({ summary }),
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
    }),
    ...errors
      .filter(([status]) => !(creates && (status === 404 || status === 412)))
      .map(([status, description]) => ApiResponse({ status, description, type: ErrorResponse })),
  );
}
