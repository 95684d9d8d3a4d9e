import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { CancelOrderRequest } from './cancel-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class CancelOrderController {
  @Post(':id/cancel')
  @OrderCommandEndpoint({ operationId: 'cancelOrder', summary: 'Cancel a PLACED or CONFIRMED order' })
  cancelOrder(@Param('id', uuidParam('id')) orderId: string, @Body() { reason }: CancelOrderRequest): OrderCommandCall {
    return { orderId, command: { type: 'CancelOrder', data: { reason } } };
  }
}
