import { ConflictException, Controller, Get, Inject, NotFoundException, Param, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { APP_CONFIG, ErrorResponse, uuidParam, type AppConfig } from '@app/platform';
import { OrderViewQueries } from '@app/read-models';

import { GetOrderQuery } from './get-order.query.dto.js';
import { OrderResponse, toOrderResponse } from './order.response.js';

/** 409 READ_MODEL_BEHIND: the version the read model has reached so far. */
export class ReadModelBehindResponse extends ErrorResponse {
  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Null while the order is not in the read model at all.',
  })
  readonly currentVersion!: number | null;
}

@Controller('orders')
export class GetOrderController {
  constructor(
    @Inject(OrderViewQueries) private readonly orders: OrderViewQueries,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * With `minVersion`, waits up to QUERY_MIN_VERSION_WAIT_MS for the read model to reach it, then
   * answers 409 READ_MODEL_BEHIND (with `Retry-After`) rather than a stale 200.
   */
  @Get(':id')
  @ApiOperation({
    operationId: 'getOrder',
    summary: 'One order, as the order view has it; with minVersion, once it has that version',
  })
  @ApiOkResponse({
    type: OrderResponse,
    headers: { ETag: { description: 'The version, quoted, e.g. "3".', schema: { type: 'string' } } },
  })
  @ApiResponse({ status: 404, type: ErrorResponse, description: 'The order is not known (yet): ORDER_NOT_FOUND.' })
  @ApiResponse({
    status: 409,
    type: ReadModelBehindResponse,
    description: 'minVersion was not reached within QUERY_MIN_VERSION_WAIT_MS (READ_MODEL_BEHIND): retry shortly.',
    headers: { 'Retry-After': { description: 'Seconds: 1.', schema: { type: 'string' } } },
  })
  async getOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Query() { minVersion }: GetOrderQuery,
    @Res({ passthrough: true }) response: FastifyReply,
  ): Promise<OrderResponse> {
    const view =
      minVersion === undefined
        ? await this.orders.findById(orderId)
        : await this.orders.waitForVersion(orderId, minVersion, this.config.query.minVersionWaitMs);
    if (minVersion !== undefined && (view?.version ?? 0) < minVersion) {
      void response.header('Retry-After', '1');
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        code: 'READ_MODEL_BEHIND',
        message: `order ${orderId} is not yet visible at version ${minVersion}; retry shortly`,
        currentVersion: view?.version ?? null,
      });
    }
    if (!view) {
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        code: 'ORDER_NOT_FOUND',
        message: `order ${orderId} is not known (yet)`,
      });
    }
    void response.header('ETag', `"${view.version}"`);
    return toOrderResponse(view);
  }
}
