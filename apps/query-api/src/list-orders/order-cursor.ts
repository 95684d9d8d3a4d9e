import { BadRequestException } from '@nestjs/common';

import type { OrderView } from '@app/read-models';

export interface OrderCursor {
  readonly placedAt: Date;
  readonly orderId: string;
}

const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;

/** The position after an order in the newest-first list, opaque to clients. */
export function encodeCursor(view: OrderView): string {
  return Buffer.from(JSON.stringify([view.placedAt.toISOString(), view.orderId])).toString('base64url');
}

export function decodeCursor(cursor: string): OrderCursor {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [at, orderId] = parsed as unknown[];
      const placedAt = new Date(typeof at === 'string' ? at : Number.NaN);
      const year = placedAt.getUTCFullYear();
      // Outside these years Postgres cannot take the timestamp; no cursor we issue is there.
      if (year >= 1970 && year <= 9999 && typeof orderId === 'string' && UUID.test(orderId))
        return { placedAt, orderId };
    }
  } catch {
    // fall through: any malformed cursor is the same client error
  }
  throw new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: 'cursor must be a nextCursor returned by this API',
    fields: [{ field: 'cursor', errors: ['cursor must be a nextCursor returned by this API'] }],
  });
}
