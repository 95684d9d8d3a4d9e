import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { uuidParam } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { AddOrderLineRequest } from './add-order-line.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class AddOrderLineController {
  @Post(':id/lines')
  @OrderCommandEndpoint({ operationId: 'addOrderLine', summary: 'Add a line (only while PLACED)' })
  addOrderLine(
    @Param('id', uuidParam('id')) orderId: string,
    @Body() { sku, quantity, unitPriceMinor }: AddOrderLineRequest,
  ): OrderCommandCall {
    return { orderId, command: { type: 'AddOrderLine', data: { line: { sku, quantity, unitPriceMinor } } } };
  }
}
