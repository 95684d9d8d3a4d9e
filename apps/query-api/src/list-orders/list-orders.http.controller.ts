import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, getSchemaPath } from '@nestjs/swagger';

import { OrderViewQueries } from '@app/read-models';

import { OrderResponse, toOrderResponse } from '../get-order/order.response.js';
import { ListOrdersQuery } from './list-orders.query.dto.js';
import { decodeCursor, encodeCursor } from './order-cursor.js';

const DEFAULT_LIMIT = 20;

@Controller('orders')
export class ListOrdersController {
  constructor(@Inject(OrderViewQueries) private readonly orders: OrderViewQueries) {}

  /** Newest first; `nextCursor` is null on the last page. */
  @Get()
  @ApiOperation({ operationId: 'listOrders', summary: 'Orders, newest first, by customer or status, a page at a time' })
  @ApiExtraModels(OrderResponse)
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        items: { type: 'array', items: { $ref: getSchemaPath(OrderResponse) } },
        nextCursor: { type: 'string', nullable: true },
      },
    },
  })
  async listOrders(@Query() query: ListOrdersQuery): Promise<{ items: OrderResponse[]; nextCursor: string | null }> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const views = await this.orders.list({
      customerId: query.customerId,
      status: query.status,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
      limit: limit + 1,
    });
    const page = views.slice(0, limit);
    const last = page.at(-1);
    return { items: page.map(toOrderResponse), nextCursor: views.length > limit && last ? encodeCursor(last) : null };
  }
}
