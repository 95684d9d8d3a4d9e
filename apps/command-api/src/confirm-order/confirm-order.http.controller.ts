import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { ConfirmOrderRequest } from './confirm-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class ConfirmOrderController {
  @Post(':id/confirm')
  @OrderCommandEndpoint({ operationId: 'confirmOrder', summary: 'Confirm a PLACED order that has at least one line' })
  confirmOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { paymentReference }: ConfirmOrderRequest,
  ): OrderCommandCall {
    return { orderId, command: { type: 'ConfirmOrder', data: { paymentReference } } };
  }
}
