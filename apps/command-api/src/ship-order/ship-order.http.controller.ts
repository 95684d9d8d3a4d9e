import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { ShipOrderRequest } from './ship-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class ShipOrderController {
  constructor(@Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler) {}

  @Post(':id/ship')
  @OrderCommandEndpoint({ summary: 'Ship a CONFIRMED order' })
  shipOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { carrier, trackingNumber }: ShipOrderRequest,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    return this.commands.handle(request, response, orderId, { type: 'ShipOrder', data: { carrier, trackingNumber } });
  }
}
