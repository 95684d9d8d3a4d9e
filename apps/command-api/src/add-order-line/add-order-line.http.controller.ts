import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { AddOrderLineRequest } from './add-order-line.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class AddOrderLineController {
  constructor(@Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler) {}

  @Post(':id/lines')
  @OrderCommandEndpoint({ summary: 'Add a line (only while PLACED)' })
  addOrderLine(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { sku, quantity, unitPriceMinor }: AddOrderLineRequest,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    return this.commands.handle(request, response, orderId, {
      type: 'AddOrderLine',
      data: { line: { sku, quantity, unitPriceMinor } },
    });
  }
}
