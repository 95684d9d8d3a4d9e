/** Domain events of an order. Past tense, plain data: the event log stores them forever. */

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

export type OrderEvent =
  OrderPlaced | OrderLineAdded | OrderLineRemoved | OrderConfirmed | OrderShipped | OrderDelivered | OrderCancelled;

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
} as const satisfies Record<OrderEventType, true>;

/** Every event type, for registries that must list them (topic consumers, decoders). */
export const ORDER_EVENT_TYPES: readonly OrderEventType[] = Object.keys(orderEventTypes) as OrderEventType[];

export function isOrderEventType(type: string): type is OrderEventType {
  return Object.hasOwn(orderEventTypes, type);
}

/** Bumped when an event's data changes shape; consumers upcast older versions. */
export const ORDER_EVENT_SCHEMA_VERSION = 1;
