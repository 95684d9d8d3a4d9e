import { BadRequestException } from '@nestjs/common';

/** A time with a time part names its zone: `Date.parse` would read `2026-12-02T10:00` in the server's zone. */
const ZONED_OR_DATE_ONLY = /^\d{4}-\d{2}-\d{2}$|(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * The window `[from, to)` of a stats query, widened to whole buckets: `to` defaults to now, `from` to
 * `defaultSpanMs` before `to`. A time that does not parse, has no zone, or a `from` not before `to`
 * is a 400 naming the parameter, before any rounding hides it.
 */
export function bucketWindow(
  query: { readonly from?: string | undefined; readonly to?: string | undefined },
  bucketMs: number,
  defaultSpanMs: number,
): { from: number; to: number } {
  const requestedTo = query.to === undefined ? Date.now() : parseTime('to', query.to);
  const requestedFrom = query.from === undefined ? requestedTo - defaultSpanMs : parseTime('from', query.from);
  if (!(requestedFrom < requestedTo)) throw badParameter('from', 'from must be before to');
  return { from: Math.floor(requestedFrom / bucketMs) * bucketMs, to: Math.ceil(requestedTo / bucketMs) * bucketMs };
}

function parseTime(field: 'from' | 'to', text: string): number {
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw badParameter(field, `${field} must be an ISO 8601 time`);
  if (!ZONED_OR_DATE_ONLY.test(text)) throw badParameter(field, `${field} must name its time zone (Z or an offset)`);
  return time;
}

export function badParameter(field: string, message: string): BadRequestException {
  return new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message,
    fields: [{ field, errors: [message] }],
  });
}
