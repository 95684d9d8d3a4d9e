/**
 * What an order is: the state a decision needs, and evolve (how a fact changes that state). Its events
 * (the facts the log keeps forever) are declared in order-events.ts. A new event or status starts
 * there or here; the compiler then points at every place that must decide what it means (evolve,
 * decide, each projection, the verification).
 */

import type { OrderChannel, OrderEvent, OrderLine } from './order-events.js';

// State: keyed by status.
type Existing<Status extends string> = Readonly<{
  status: Status;
  customerId: string;
  currency: string;
  lines: readonly OrderLine[];
  channel: OrderChannel;
}>;

/** The state a decision needs, keyed by status. `Unplaced` is an order with no events yet. */
export type Unplaced = Readonly<{ status: 'UNPLACED' }>;
export type Placed = Existing<'PLACED'>;
export type Confirmed = Existing<'CONFIRMED'>;
export type Shipped = Existing<'SHIPPED'>;
export type Delivered = Existing<'DELIVERED'>;
export type Cancelled = Existing<'CANCELLED'>;
export type Returned = Existing<'RETURNED'>;

export type OrderState = Unplaced | Placed | Confirmed | Shipped | Delivered | Cancelled | Returned;

/** The status of an order that exists: a new state type adds its status here by itself. */
export type OrderStatus = Exclude<OrderState['status'], 'UNPLACED'>;

/** Must name every status, so a new state fails typecheck here instead of missing from ORDER_STATUSES. */
const orderStatuses = {
  PLACED: true,
  CONFIRMED: true,
  SHIPPED: true,
  DELIVERED: true,
  CANCELLED: true,
  RETURNED: true,
} as const satisfies Record<OrderStatus, true>;

/** Every status an order can have, for the edges that list them (OpenAPI enums, query filters). */
export const ORDER_STATUSES: readonly OrderStatus[] = Object.keys(orderStatuses) as OrderStatus[];

export const initialState: OrderState = { status: 'UNPLACED' };

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
    case 'OrderReturned':
      return state.status === 'UNPLACED' ? state : { ...state, status: 'RETURNED' };
    default: {
      const unhandled: never = event;
      throw new Error(`unknown event ${JSON.stringify(unhandled)}`);
    }
  }
}
