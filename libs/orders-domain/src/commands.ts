/** Commands: what a client asks for, imperative. Ids and time are decided outside the domain. */
import type { OrderLine } from './events.js';

type Command<Type extends string, Data> = Readonly<{ type: Type; data: Readonly<Data> }>;

export type PlaceOrder = Command<'PlaceOrder', { customerId: string; currency: string; lines: readonly OrderLine[] }>;
export type AddOrderLine = Command<'AddOrderLine', { line: OrderLine }>;
export type RemoveOrderLine = Command<'RemoveOrderLine', { sku: string }>;
export type ConfirmOrder = Command<'ConfirmOrder', { paymentReference: string }>;
export type ShipOrder = Command<'ShipOrder', { carrier: string; trackingNumber: string }>;
export type DeliverOrder = Command<'DeliverOrder', Record<string, never>>;
export type CancelOrder = Command<'CancelOrder', { reason: string }>;

export type OrderCommand =
  PlaceOrder | AddOrderLine | RemoveOrderLine | ConfirmOrder | ShipOrder | DeliverOrder | CancelOrder;

export type OrderCommandType = OrderCommand['type'];
