import { Inject, Injectable } from '@nestjs/common';

import { EventStore, handleCommand, type EventMetadata } from '@app/event-store';
import { ORDER_EVENT_SCHEMA_VERSION, type OrderStatus } from '@app/orders-domain';
import { Clock, IdGenerator } from '@app/platform';

import { orderDecider } from '../shared/order-decider.js';
import type { PlaceOrderRequest } from './place-order.request.dto.js';

export interface PlaceOrderResult {
  readonly orderId: string;
  readonly version: number;
  readonly status: OrderStatus;
}

@Injectable()
export class PlaceOrderHandler {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(IdGenerator) private readonly ids: IdGenerator,
  ) {}

  async execute(request: PlaceOrderRequest, metadata: EventMetadata): Promise<PlaceOrderResult> {
    const orderId = this.ids.next();
    const result = await handleCommand(
      this.store,
      orderDecider,
      orderId,
      {
        type: 'PlaceOrder',
        data: {
          customerId: request.customerId,
          currency: request.currency,
          lines: request.lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor })),
        },
      },
      {
        expectedVersion: 0,
        metadata,
        now: this.clock.now(),
        newEventId: () => this.ids.next(),
        schemaVersion: ORDER_EVENT_SCHEMA_VERSION,
      },
    );
    if (result.state.status === 'UNPLACED') throw new Error('PlaceOrder produced no order');
    return { orderId, version: result.version, status: result.state.status };
  }
}
