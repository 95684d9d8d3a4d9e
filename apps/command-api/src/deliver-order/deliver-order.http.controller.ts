import { Body, Controller, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { uuidParam } from '@app/platform';

import { NoBodyFieldsPipe } from '../shared/no-body-fields.pipe.js';
import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';

@ApiTags('orders')
@Controller('orders')
export class DeliverOrderController {
  /** No body (or `{}`): there is nothing to say about a delivery but that it happened; any field is unknown. */
  @Post(':id/deliver')
  @OrderCommandEndpoint({ operationId: 'deliverOrder', summary: 'Mark a SHIPPED order delivered' })
  deliverOrder(
    @Param('id', uuidParam('id')) orderId: string,
    @Body(NoBodyFieldsPipe) _body: undefined,
  ): OrderCommandCall {
    return { orderId, command: { type: 'DeliverOrder', data: {} } };
  }
}
