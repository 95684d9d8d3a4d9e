import { Body, Controller, Delete, Param } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { NoBodyFieldsPipe } from '../shared/no-body-fields.pipe.js';
import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { RemoveOrderLineParams } from './remove-order-line.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class RemoveOrderLineController {
  @Delete(':id/lines/:sku')
  @OrderCommandEndpoint({ operationId: 'removeOrderLine', summary: 'Remove a line by sku (only while PLACED)' })
  removeOrderLine(
    @Param() { id, sku }: RemoveOrderLineParams,
    @Body(NoBodyFieldsPipe) _body: undefined,
  ): OrderCommandCall {
    return { orderId: id, command: { type: 'RemoveOrderLine', data: { sku } } };
  }
}
