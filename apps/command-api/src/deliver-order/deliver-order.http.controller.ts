import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import { OrderCommandHandler } from '../shared/order-command.handler.js';
import type { OrderCommandResponse } from '../shared/order-command.response.js';
import { NoBodyFieldsPipe } from '../shared/no-body-fields.pipe.js';

@ApiTags('orders')
@Controller('orders')
export class DeliverOrderController {
  constructor(@Inject(OrderCommandHandler) private readonly commands: OrderCommandHandler) {}

  /** No body (or `{}`): there is nothing to say about a delivery but that it happened; any field is unknown. */
  @Post(':id/deliver')
  @OrderCommandEndpoint({ summary: 'Mark a SHIPPED order delivered' })
  deliverOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body(NoBodyFieldsPipe) _body: undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<OrderCommandResponse> {
    return this.commands.handle(request, response, orderId, { type: 'DeliverOrder', data: {} });
  }
}
