import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { ConfirmOrderRequest } from './confirm-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class ConfirmOrderController {
  constructor(@Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler) {}

  @Post(':id/confirm')
  @OrderCommandEndpoint({ summary: 'Confirm a PLACED order that has at least one line' })
  confirmOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { paymentReference }: ConfirmOrderRequest,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    return this.commands.handle(request, response, orderId, { type: 'ConfirmOrder', data: { paymentReference } });
  }
}
