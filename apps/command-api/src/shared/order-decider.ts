import type { Decider } from '@app/event-store';
import { ORDER_EVENTS } from '@app/messaging';
import { decide, evolve, initialState, type OrderCommand, type OrderEvent, type OrderState } from '@app/orders-domain';

export const orderDecider: Decider<OrderCommand, OrderEvent, OrderState> = {
  decide,
  evolve,
  initialState,
  events: ORDER_EVENTS,
};
