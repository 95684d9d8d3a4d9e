import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { ReturnOrderRequest } from './return-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class ReturnOrderController {
  @Post(':id/return')
  @OrderCommandEndpoint({
    operationId: 'returnOrder',
    summary: 'Return a DELIVERED order (409 ORDER_NOT_DELIVERED otherwise)',
  })
  returnOrder(@Param('id', uuidParam('id')) orderId: string, @Body() { reason }: ReturnOrderRequest): OrderCommandCall {
    return { orderId, command: { type: 'ReturnOrder', data: { reason } } };
  }
}
