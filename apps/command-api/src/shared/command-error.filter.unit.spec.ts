import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';

import {
  ConcurrencyConflict,
  EVENT_DATA_LIMIT_BYTES,
  EventTooLarge,
  IdempotencyKeyReused,
  VersionMismatch,
} from '@app/event-store';
import { OrderRuleViolation } from '@app/orders-domain';

import { CommandErrorFilter } from './command-error.filter.js';

/** What the filter answered: status and body, through an HTTP adapter that records them. */
function answer(error: Error): { status: number; body: unknown } {
  const sent: { status: number; body: unknown } = { status: 0, body: undefined };
  const response = {};
  const httpAdapter = {
    reply(to: unknown, body: unknown, status: number) {
      assert.equal(to, response, 'answers on the response of the request');
      Object.assign(sent, { status, body });
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;
  new CommandErrorFilter({ httpAdapter } as unknown as HttpAdapterHost).catch(error as EventTooLarge, host);
  return sent;
}

describe("CommandErrorFilter: the write side's errors as the README's status codes", () => {
  it('answers 413 EVENT_TOO_LARGE for an event refused at append', () => {
    const error = new EventTooLarge('OrderCancelled', EVENT_DATA_LIMIT_BYTES + 1);
    assert.deepEqual(answer(error), {
      status: 413,
      body: {
        statusCode: 413,
        error: 'Payload Too Large',
        code: 'EVENT_TOO_LARGE',
        message: `a OrderCancelled event of ${String(EVENT_DATA_LIMIT_BYTES + 1)} bytes exceeds the ${String(EVENT_DATA_LIMIT_BYTES)}-byte limit`,
      },
    });
  });

  it('answers 412, 422, 409 and 404 for the other errors, each with its stable code', () => {
    const cases: [Error, number, string][] = [
      [new VersionMismatch(3, 4), 412, 'VERSION_MISMATCH'],
      [new IdempotencyKeyReused('key-1'), 422, 'IDEMPOTENCY_KEY_REUSED'],
      [new ConcurrencyConflict('6f1c1c2e-8a0b-4a6e-9a49-0d0f2b7f0e11', 2), 409, 'CONCURRENT_MODIFICATION'],
      [new OrderRuleViolation('ORDER_NOT_PLACED', 'the order is not placed'), 409, 'ORDER_NOT_PLACED'],
      [new OrderRuleViolation('ORDER_NOT_FOUND', 'no such order'), 404, 'ORDER_NOT_FOUND'],
      [new OrderRuleViolation('LINE_NOT_FOUND', 'no such line'), 404, 'LINE_NOT_FOUND'],
    ];
    for (const [error, status, code] of cases) {
      const sent = answer(error);
      assert.equal(sent.status, status, code);
      assert.equal((sent.body as { code: string }).code, code);
      assert.equal((sent.body as { statusCode: number }).statusCode, status);
    }
  });
});
