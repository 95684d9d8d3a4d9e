import type { OrderLine } from './events.js';

export type OrderStatus = 'PLACED' | 'CONFIRMED' | 'SHIPPED' | 'DELIVERED' | 'CANCELLED';

type Existing<Status extends OrderStatus> = Readonly<{
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

export const initialState: OrderState = { status: 'UNPLACED' };
