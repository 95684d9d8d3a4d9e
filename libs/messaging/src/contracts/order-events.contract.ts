import { ORDER_EVENT_VERSIONS, type OrderEventType } from '@app/orders-domain';

import { EventContract } from './event-contract.js';

/** The orders domain's events as the log keeps them (libs/orders-domain/src/order-events.ts): every reader and writer checks and upcasts through it. */
export const ORDER_EVENTS = new EventContract<OrderEventType>('orders', ORDER_EVENT_VERSIONS);
