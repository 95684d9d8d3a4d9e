/**
 * A broken rule of the order. The code is part of the HTTP contract (409 bodies), so codes never
 * change once published.
 */
export type OrderRuleCode =
  | 'ORDER_ALREADY_PLACED'
  | 'ORDER_NOT_FOUND'
  | 'ORDER_NOT_PLACED'
  | 'ORDER_NOT_CONFIRMED'
  | 'ORDER_NOT_SHIPPED'
  | 'ORDER_NOT_CANCELLABLE'
  | 'ORDER_HAS_NO_LINES'
  | 'TOO_MANY_LINES'
  | 'DUPLICATE_SKU'
  | 'LINE_NOT_FOUND'
  | 'INVALID_QUANTITY'
  | 'INVALID_PRICE'
  | 'INVALID_CURRENCY'
  | 'TOTAL_TOO_LARGE';

export class OrderRuleViolation extends Error {
  constructor(
    readonly code: OrderRuleCode,
    message: string,
  ) {
    super(message);
    this.name = 'OrderRuleViolation';
  }
}
