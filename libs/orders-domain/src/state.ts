import type { OrderLine } from './events.js';

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

export type OrderState = Unplaced | Placed | Confirmed | Shipped | Delivered | Cancelled;

/** The status of an order that exists: a new state type adds its status here by itself. */
export type OrderStatus = Exclude<OrderState['status'], 'UNPLACED'>;

/** Must name every status, so a new state fails typecheck here instead of missing from ORDER_STATUSES. */
const orderStatuses = {
  PLACED: true,
  CONFIRMED: true,
  SHIPPED: true,
  DELIVERED: true,
  CANCELLED: true,
} as const satisfies Record<OrderStatus, true>;

/** Every status an order can have, for the edges that list them (OpenAPI enums, query filters). */
export const ORDER_STATUSES: readonly OrderStatus[] = Object.keys(orderStatuses) as OrderStatus[];

export const initialState: OrderState = { status: 'UNPLACED' };
