import { Body, Controller, Headers, HttpCode, HttpStatus, Inject, Post, Res } from '@nestjs/common';
import type { Response } from 'express';

import { IdGenerator } from '@app/platform';

import { commandMetadata } from '../shared/command-metadata.js';
import { PlaceOrderHandler, type PlaceOrderResult } from './place-order.handler.js';
import { PlaceOrderRequest } from './place-order.request.dto.js';

@Controller('orders')
export class PlaceOrderController {
  constructor(
    @Inject(PlaceOrderHandler) private readonly handler: PlaceOrderHandler,
    @Inject(IdGenerator) private readonly ids: IdGenerator,
  ) {}

  @Post()
  @HttpCode(HttpStatus.CREATED)
  async placeOrder(
    @Body() request: PlaceOrderRequest,
    @Headers() headers: Record<string, string | string[] | undefined>,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PlaceOrderResult> {
    const result = await this.handler.execute(request, commandMetadata(headers, this.ids));
    response.location(`/orders/${result.orderId}`);
    response.setHeader('ETag', `"${result.version}"`);
    return result;
  }
}
