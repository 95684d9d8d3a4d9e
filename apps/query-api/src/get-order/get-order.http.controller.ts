import { Controller, Get, Inject, NotFoundException, Param, ParseUUIDPipe, Res } from '@nestjs/common';
import type { Response } from 'express';

import { OrderViewQueries } from '@app/read-models';

import { toOrderResponse, type OrderResponse } from './order.response.js';

@Controller('orders')
export class GetOrderController {
  constructor(@Inject(OrderViewQueries) private readonly orders: OrderViewQueries) {}

  @Get(':id')
  async getOrder(
    @Param('id', ParseUUIDPipe) orderId: string,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderResponse> {
    const view = await this.orders.findById(orderId);
    if (!view) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: 'ORDER_NOT_FOUND', message: `order ${orderId} is not known (yet)` });
    response.setHeader('ETag', `"${view.version}"`);
    return toOrderResponse(view);
  }
}
