import { Catch, HttpStatus, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';

import { VersionMismatch } from '@app/event-store';
import { OrderRuleViolation } from '@app/orders-domain';

/** Maps the write side's own errors to the contract: 404 unknown order, 409 a rule, 412 a stale If-Match. */
@Catch(OrderRuleViolation, VersionMismatch)
export class CommandErrorFilter implements ExceptionFilter {
  catch(error: OrderRuleViolation | VersionMismatch, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    if (error instanceof VersionMismatch) {
      response.status(HttpStatus.PRECONDITION_FAILED).json({
        statusCode: HttpStatus.PRECONDITION_FAILED,
        error: 'Precondition Failed',
        code: 'VERSION_MISMATCH',
        message: error.message,
      });
      return;
    }
    const status = error.code === 'ORDER_NOT_FOUND' ? HttpStatus.NOT_FOUND : HttpStatus.CONFLICT;
    response.status(status).json({
      statusCode: status,
      error: status === HttpStatus.NOT_FOUND ? 'Not Found' : 'Conflict',
      code: error.code,
      message: error.message,
    });
  }
}
