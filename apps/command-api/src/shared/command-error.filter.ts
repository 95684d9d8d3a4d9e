import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';

import { ConcurrencyConflict, EventTooLarge, IdempotencyKeyReused, VersionMismatch } from '@app/event-store';
import { OrderRuleViolation } from '@app/orders-domain';

type CommandError = OrderRuleViolation | VersionMismatch | IdempotencyKeyReused | EventTooLarge | ConcurrencyConflict;

/**
 * Maps the write side's own errors to the contract: 404 when the order (or line) in the URL does not
 * exist, 409 a broken rule with its stable code, 412 a stale If-Match, 413 an event too large for
 * the log, 422 a reused idempotency key, 409 CONCURRENT_MODIFICATION when retries ran out.
 */
@Catch(OrderRuleViolation, VersionMismatch, IdempotencyKeyReused, EventTooLarge, ConcurrencyConflict)
export class CommandErrorFilter implements ExceptionFilter {
  catch(error: CommandError, host: ArgumentsHost): void {
    const [statusCode, code] = classify(error);
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(statusCode)
      .json({ statusCode, error: REASONS[statusCode], code, message: error.message });
  }
}

function classify(error: CommandError): [number, string] {
  if (error instanceof VersionMismatch) return [HttpStatus.PRECONDITION_FAILED, 'VERSION_MISMATCH'];
  if (error instanceof IdempotencyKeyReused) return [HttpStatus.UNPROCESSABLE_ENTITY, 'IDEMPOTENCY_KEY_REUSED'];
  if (error instanceof EventTooLarge) return [HttpStatus.PAYLOAD_TOO_LARGE, 'EVENT_TOO_LARGE'];
  // Still losing after the bounded retries: another writer keeps changing the order. Safe to retry.
  if (error instanceof ConcurrencyConflict) return [HttpStatus.CONFLICT, 'CONCURRENT_MODIFICATION'];
  // The URL names the order (and, for line removal, the line): when it does not exist, that is a 404.
  const missing = error.code === 'ORDER_NOT_FOUND' || error.code === 'LINE_NOT_FOUND';
  return [missing ? HttpStatus.NOT_FOUND : HttpStatus.CONFLICT, error.code];
}

const REASONS: Record<number, string> = {
  [HttpStatus.NOT_FOUND]: 'Not Found',
  [HttpStatus.CONFLICT]: 'Conflict',
  [HttpStatus.PRECONDITION_FAILED]: 'Precondition Failed',
  [HttpStatus.PAYLOAD_TOO_LARGE]: 'Payload Too Large',
  [HttpStatus.UNPROCESSABLE_ENTITY]: 'Unprocessable Entity',
};
