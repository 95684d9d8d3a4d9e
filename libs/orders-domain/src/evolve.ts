import type { OrderEvent } from './events.js';
import type { OrderState } from './state.js';

/** Folds one event into the state. Events are facts: evolve never rejects, it only applies. */
export function evolve(state: OrderState, event: OrderEvent): OrderState {
  switch (event.type) {
    case 'OrderPlaced':
      return { status: 'PLACED', ...event.data };
    case 'OrderLineAdded':
      return state.status === 'UNPLACED' ? state : { ...state, lines: [...state.lines, event.data.line] };
    case 'OrderLineRemoved':
      return state.status === 'UNPLACED'
        ? state
        : { ...state, lines: state.lines.filter((line) => line.sku !== event.data.sku) };
    case 'OrderConfirmed':
      return state.status === 'UNPLACED' ? state : { ...state, status: 'CONFIRMED' };
    case 'OrderShipped':
      return state.status === 'UNPLACED' ? state : { ...state, status: 'SHIPPED' };
    case 'OrderDelivered':
      return state.status === 'UNPLACED' ? state : { ...state, status: 'DELIVERED' };
    case 'OrderCancelled':
      return state.status === 'UNPLACED' ? state : { ...state, status: 'CANCELLED' };
    default: {
      const unhandled: never = event;
      throw new Error(`unknown event ${JSON.stringify(unhandled)}`);
    }
  }
}
