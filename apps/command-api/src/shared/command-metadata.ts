import type { EventMetadata } from '@app/event-store';
import type { IdGenerator } from '@app/platform';

const CORRELATION_ID = /^[\w.:-]{1,128}$/;
const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Where a command came from. A caller's correlation id is kept when it is well-formed (a malformed
 * one is replaced, not trusted); the command itself is the cause of the events it produces.
 */
export function commandMetadata(headers: Headers, ids: IdGenerator): EventMetadata {
  const correlationId = single(headers['x-correlation-id']);
  const traceparent = single(headers.traceparent);
  return {
    correlationId: correlationId && CORRELATION_ID.test(correlationId) ? correlationId : ids.next(),
    causationId: ids.next(),
    traceparent: traceparent && TRACEPARENT.test(traceparent) ? traceparent : undefined,
  };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
