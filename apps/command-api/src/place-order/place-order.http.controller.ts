import { Body, Controller, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { IdGenerator } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { PlaceOrderRequest } from './place-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class PlaceOrderController {
  constructor(
    @Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler,
    @Inject(IdGenerator) private readonly ids: IdGenerator,
  ) {}

  @Post()
  @OrderCommandEndpoint({ summary: 'Place an order with 1 to 100 lines', creates: true })
  placeOrder(
    @Body() body: PlaceOrderRequest,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    const lines = body.lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor }));
    return this.commands.handle(
      request,
      response,
      this.ids.next(),
      { type: 'PlaceOrder', data: { customerId: body.customerId, currency: body.currency, lines } },
      { creates: true },
    );
  }
}
