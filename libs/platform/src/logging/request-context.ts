import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

import type { IncomingMessage, ServerResponse } from 'node:http';

const requests = new AsyncLocalStorage<{ readonly correlationId: string }>();
const CORRELATION_ID = /^[\w.:-]{1,128}$/;

/** The correlation id of the request being handled, if any. */
export function currentCorrelationId(): string | undefined {
  return requests.getStore()?.correlationId;
}

/**
 * Gives every request a correlation id: the caller's `X-Correlation-Id` when well-formed, otherwise a
 * new one. It is written back to the request header (so commands put the same id on their events),
 * echoed in the response, and attached to every log line written while the request is handled.
 */
export function correlateRequests(
  request: Pick<IncomingMessage, 'headers'>,
  response: Pick<ServerResponse, 'setHeader'>,
  next: () => void,
): void {
  const offered = request.headers['x-correlation-id'];
  const correlationId = typeof offered === 'string' && CORRELATION_ID.test(offered) ? offered : randomUUID();
  request.headers['x-correlation-id'] = correlationId;
  response.setHeader('X-Correlation-Id', correlationId);
  requests.run({ correlationId }, next);
}
