import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { CancelOrderRequest } from './cancel-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class CancelOrderController {
  constructor(@Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler) {}

  @Post(':id/cancel')
  @OrderCommandEndpoint({ summary: 'Cancel a PLACED or CONFIRMED order' })
  cancelOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { reason }: CancelOrderRequest,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    return this.commands.handle(request, response, orderId, { type: 'CancelOrder', data: { reason } });
  }
}
