/**
 * What an order is: its events (the facts the log keeps forever), the state a decision needs, and
 * evolve (how a fact changes that state). A new event or status starts here; the compiler then points
 * at every place that must decide what it means (evolve, decide, each projection, the verification).
 */

// Events: past tense, plain data.
export type OrderLine = Readonly<{
  sku: string;
  quantity: number;
  unitPriceMinor: number;
}>;

type Event<Type extends string, Data> = Readonly<{ type: Type; data: Readonly<Data> }>;

export type OrderPlaced = Event<'OrderPlaced', { customerId: string; currency: string; lines: readonly OrderLine[] }>;
export type OrderLineAdded = Event<'OrderLineAdded', { line: OrderLine }>;
export type OrderLineRemoved = Event<'OrderLineRemoved', { sku: string }>;
export type OrderConfirmed = Event<'OrderConfirmed', { paymentReference: string }>;
export type OrderShipped = Event<'OrderShipped', { carrier: string; trackingNumber: string }>;
export type OrderDelivered = Event<'OrderDelivered', Record<string, never>>;
export type OrderCancelled = Event<'OrderCancelled', { reason: string }>;
export type OrderReturned = Event<'OrderReturned', { reason: string }>;

export type OrderEvent =
  | OrderPlaced
  | OrderLineAdded
  | OrderLineRemoved
  | OrderConfirmed
  | OrderShipped
  | OrderDelivered
  | OrderCancelled
  | OrderReturned;

export type OrderEventType = OrderEvent['type'];

/** Must name every event type, so a new event fails typecheck here instead of being parked at run time. */
const orderEventTypes = {
  OrderPlaced: true,
  OrderLineAdded: true,
  OrderLineRemoved: true,
  OrderConfirmed: true,
  OrderShipped: true,
  OrderDelivered: true,
  OrderCancelled: true,
  OrderReturned: true,
} as const satisfies Record<OrderEventType, true>;

/** Every event type, for registries that must list them (topic consumers, decoders). */
export const ORDER_EVENT_TYPES: readonly OrderEventType[] = Object.keys(orderEventTypes) as OrderEventType[];

export function isOrderEventType(type: string): type is OrderEventType {
  return Object.hasOwn(orderEventTypes, type);
}

/** Bumped when an event's data changes shape; consumers upcast older versions. */
export const ORDER_EVENT_SCHEMA_VERSION = 1;

// State: keyed by status.
type Existing<Status extends string> = Readonly<{
  status: Status;
  customerId: string;
  currency: string;
  lines: readonly OrderLine[];
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
