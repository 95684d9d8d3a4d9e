import { Body, Controller, Delete, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { NoBodyFieldsPipe } from '../shared/no-body-fields.pipe.js';
import { RemoveOrderLineParams } from './remove-order-line.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class RemoveOrderLineController {
  constructor(@Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler) {}

  @Delete(':id/lines/:sku')
  @OrderCommandEndpoint({ summary: 'Remove a line by sku (only while PLACED)' })
  removeOrderLine(
    @Param() { id, sku }: RemoveOrderLineParams,
    @Body(NoBodyFieldsPipe) _body: undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    return this.commands.handle(request, response, id, { type: 'RemoveOrderLine', data: { sku } });
  }
}
