import { Catch, HttpStatus, Inject, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import {
  ConcurrencyConflict,
  EventTooLarge,
  IdempotencyKeyReused,
  UnreadableHistory,
  VersionMismatch,
} from '@app/event-store';
import { ORDER_RULES, OrderRuleViolation } from '@app/orders-domain';

type CommandError =
  OrderRuleViolation | VersionMismatch | IdempotencyKeyReused | EventTooLarge | ConcurrencyConflict | UnreadableHistory;

type ErrorStatus =
  | HttpStatus.NOT_FOUND
  | HttpStatus.CONFLICT
  | HttpStatus.PRECONDITION_FAILED
  | HttpStatus.PAYLOAD_TOO_LARGE
  | HttpStatus.UNPROCESSABLE_ENTITY
  | HttpStatus.INTERNAL_SERVER_ERROR
  | HttpStatus.SERVICE_UNAVAILABLE;

/**
 * Maps the write side's own errors to the contract: 404 when the order (or line) in the URL does not
 * exist, 409 a broken rule with its stable code, 412 a stale If-Match, 413 an event too large for
 * the log, 422 a reused idempotency key, 409 CONCURRENT_MODIFICATION when retries ran out; an order
 * whose history this process cannot read is 503 EVENT_VERSION_NEWER_THAN_SERVICE when a newer
 * deployment wrote it (another instance, or this one upgraded, can serve it) and 500 EVENT_UNREADABLE
 * otherwise: never decided on a misread history. Answers through
 * Nest's adapter, so the HTTP framework stays in the edge (order-command.http.ts).
 */
@Catch(OrderRuleViolation, VersionMismatch, IdempotencyKeyReused, EventTooLarge, ConcurrencyConflict, UnreadableHistory)
export class CommandErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(CommandErrorFilter.name);

  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  catch(error: CommandError, host: ArgumentsHost): void {
    const [statusCode, code] = classify(error);
    const body = { statusCode, error: REASONS[statusCode], code, message: error.message };
    if (statusCode === HttpStatus.INTERNAL_SERVER_ERROR || statusCode === HttpStatus.SERVICE_UNAVAILABLE)
      this.logger.error(`${code}: ${error.message}`);
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse<unknown>(), body, statusCode);
  }
}

function classify(error: CommandError): [ErrorStatus, string] {
  if (error instanceof VersionMismatch) return [HttpStatus.PRECONDITION_FAILED, 'VERSION_MISMATCH'];
  if (error instanceof IdempotencyKeyReused) return [HttpStatus.UNPROCESSABLE_ENTITY, 'IDEMPOTENCY_KEY_REUSED'];
  if (error instanceof EventTooLarge) return [HttpStatus.PAYLOAD_TOO_LARGE, 'EVENT_TOO_LARGE'];
  // Still losing after the bounded retries: another writer keeps changing the order. Safe to retry.
  if (error instanceof ConcurrencyConflict) return [HttpStatus.CONFLICT, 'CONCURRENT_MODIFICATION'];
  if (error instanceof UnreadableHistory)
    return error.newerThanKnown
      ? [HttpStatus.SERVICE_UNAVAILABLE, 'EVENT_VERSION_NEWER_THAN_SERVICE']
      : [HttpStatus.INTERNAL_SERVER_ERROR, 'EVENT_UNREADABLE'];
  return [RULE_STATUS[ORDER_RULES[error.code]], error.code];
}

/** What breaking a rule means for HTTP: the thing the URL names does not exist (404), or the order's state forbids it (409). */
const RULE_STATUS = {
  'not-found': HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
} as const;

const REASONS = {
  [HttpStatus.NOT_FOUND]: 'Not Found',
  [HttpStatus.CONFLICT]: 'Conflict',
  [HttpStatus.PRECONDITION_FAILED]: 'Precondition Failed',
  [HttpStatus.PAYLOAD_TOO_LARGE]: 'Payload Too Large',
  [HttpStatus.UNPROCESSABLE_ENTITY]: 'Unprocessable Entity',
  [HttpStatus.INTERNAL_SERVER_ERROR]: 'Internal Server Error',
  [HttpStatus.SERVICE_UNAVAILABLE]: 'Service Unavailable',
} satisfies Record<ErrorStatus, string>;
