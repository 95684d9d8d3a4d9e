import { createHash } from 'node:crypto';

import { BadRequestException } from '@nestjs/common';
import type { Request } from 'express';

import type { EventMetadata } from '@app/event-store';
import { currentCorrelationId, type IdGenerator } from '@app/platform';

/** What the HTTP request says about how to run a command, beyond the command itself. */
export interface CommandRequestContext {
  readonly idempotencyKey: string | undefined;
  /** Method, path and body: a key reused for anything else answers 422. */
  readonly fingerprint: string;
  readonly expectedVersion: number | undefined;
  readonly metadata: EventMetadata;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;
const STRONG_ETAG = /^"(\d{1,9})"$/;
const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;

export function commandRequestContext(
  request: Request,
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

function fingerprint(request: Request): string {
  return createHash('sha256')
    .update(`${request.method} ${request.path}\n${canonicalJson(request.body)}`)
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

function header(request: Request, name: string): string | undefined {
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
