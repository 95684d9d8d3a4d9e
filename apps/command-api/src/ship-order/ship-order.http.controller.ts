import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { ShipOrderRequest } from './ship-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class ShipOrderController {
  @Post(':id/ship')
  @OrderCommandEndpoint({ operationId: 'shipOrder', summary: 'Ship a CONFIRMED order' })
  shipOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { carrier, trackingNumber }: ShipOrderRequest,
  ): OrderCommandCall {
    return { orderId, command: { type: 'ShipOrder', data: { carrier, trackingNumber } } };
  }
}
