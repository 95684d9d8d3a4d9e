import { Body, Controller, Inject, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';

import { IdGenerator } from '@app/platform';

import { OrderCommandEndpoint } from '../shared/order-command.endpoint.js';
import type { OrderCommandCall } from '../shared/order-command.handler.js';
import { PlaceOrderRequest } from './place-order.request.dto.js';

@ApiTags('orders')
@Controller('orders')
export class PlaceOrderController {
  constructor(@Inject(IdGenerator) private readonly ids: IdGenerator) {}

  /** The server names the order: a new id, so the command starts a stream no one else can write to yet. */
  @Post()
  @OrderCommandEndpoint({ operationId: 'placeOrder', summary: 'Place an order with 1 to 100 lines', creates: true })
  placeOrder(@Body() { customerId, currency, lines, channel = 'web' }: PlaceOrderRequest): OrderCommandCall {
    const orderLines = lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor }));
    return {
      orderId: this.ids.next(),
      command: { type: 'PlaceOrder', data: { customerId, currency, lines: orderLines, channel } },
    };
  }
}
