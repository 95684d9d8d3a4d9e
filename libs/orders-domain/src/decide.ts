/**
 * What a client may ask of an order and how the order answers: commands (imperative; ids and time are
 * decided outside the domain), the rules they can break, and decide, one small pure function per
 * command. A new command starts here.
 */
import type {
  OrderCancelled,
  OrderChannel,
  OrderReturned,
  OrderConfirmed,
  OrderDelivered,
  OrderEvent,
  OrderLine,
  OrderLineAdded,
  OrderLineRemoved,
  OrderPlaced,
  OrderShipped,
} from './order-events.js';
import type { OrderState, Placed } from './order.js';

// Commands
type Command<Type extends string, Data> = Readonly<{ type: Type; data: Readonly<Data> }>;

export type PlaceOrder = Command<
  'PlaceOrder',
  { customerId: string; currency: string; lines: readonly OrderLine[]; channel: OrderChannel }
>;
export type AddOrderLine = Command<'AddOrderLine', { line: OrderLine }>;
export type RemoveOrderLine = Command<'RemoveOrderLine', { sku: string }>;
export type ConfirmOrder = Command<'ConfirmOrder', { paymentReference: string }>;
export type ShipOrder = Command<'ShipOrder', { carrier: string; trackingNumber: string }>;
export type DeliverOrder = Command<'DeliverOrder', Record<string, never>>;
export type CancelOrder = Command<'CancelOrder', { reason: string }>;
export type ReturnOrder = Command<'ReturnOrder', { reason: string }>;

export type OrderCommand =
  PlaceOrder | AddOrderLine | RemoveOrderLine | ConfirmOrder | ShipOrder | DeliverOrder | CancelOrder | ReturnOrder;

export type OrderCommandType = OrderCommand['type'];

/**
 * The rules an order keeps, each with what breaking it means: `not-found` when the thing a request
 * names (the order, a line of it) does not exist, `conflict` when the order's state forbids the
 * command. Codes are part of the HTTP contract (404 and 409 bodies): they never change once published.
 */
export const ORDER_RULES = {
  ORDER_ALREADY_PLACED: 'conflict',
  ORDER_NOT_FOUND: 'not-found',
  ORDER_NOT_PLACED: 'conflict',
  ORDER_NOT_CONFIRMED: 'conflict',
  ORDER_NOT_SHIPPED: 'conflict',
  ORDER_NOT_CANCELLABLE: 'conflict',
  ORDER_NOT_DELIVERED: 'conflict',
  ORDER_HAS_NO_LINES: 'conflict',
  TOO_MANY_LINES: 'conflict',
  DUPLICATE_SKU: 'conflict',
  LINE_NOT_FOUND: 'not-found',
  INVALID_QUANTITY: 'conflict',
  INVALID_PRICE: 'conflict',
  INVALID_CURRENCY: 'conflict',
  TOTAL_TOO_LARGE: 'conflict',
} as const satisfies Record<string, 'not-found' | 'conflict'>;

export type OrderRuleCode = keyof typeof ORDER_RULES;

export class OrderRuleViolation extends Error {
  constructor(
    readonly code: OrderRuleCode,
    message: string,
  ) {
    super(message);
    this.name = 'OrderRuleViolation';
  }
}

export const MAX_LINES_PER_ORDER = 100;

/** ISO 4217 codes as this runtime's ICU knows them; the HTTP layer validates against the same list. */
export const KNOWN_CURRENCIES: readonly string[] = Intl.supportedValuesOf('currency');
const knownCurrencies = new Set(KNOWN_CURRENCIES);

/** Decides which events a command produces from the current state, or throws the rule it breaks. */
export function decide(command: OrderCommand, state: OrderState): OrderEvent[] {
  switch (command.type) {
    case 'PlaceOrder':
      return [placeOrder(command, state)];
    case 'AddOrderLine':
      return [addOrderLine(command, state)];
    case 'RemoveOrderLine':
      return [removeOrderLine(command, state)];
    case 'ConfirmOrder':
      return [confirmOrder(command, state)];
    case 'ShipOrder':
      return [shipOrder(command, state)];
    case 'DeliverOrder':
      return [deliverOrder(command, state)];
    case 'CancelOrder':
      return [cancelOrder(command, state)];
    case 'ReturnOrder':
      return [returnOrder(command, state)];
    default: {
      const unhandled: never = command;
      throw new Error(`unknown command ${JSON.stringify(unhandled)}`);
    }
  }
}

function placeOrder({ data }: PlaceOrder, state: OrderState): OrderPlaced {
  if (state.status !== 'UNPLACED') {
    throw new OrderRuleViolation('ORDER_ALREADY_PLACED', 'the order has already been placed');
  }
  if (!knownCurrencies.has(data.currency)) {
    throw new OrderRuleViolation('INVALID_CURRENCY', `${data.currency} is not an ISO 4217 currency`);
  }
  if (data.lines.length === 0) {
    throw new OrderRuleViolation('ORDER_HAS_NO_LINES', 'an order is placed with at least one line');
  }
  if (data.lines.length > MAX_LINES_PER_ORDER) {
    throw new OrderRuleViolation('TOO_MANY_LINES', `an order has at most ${MAX_LINES_PER_ORDER} lines`);
  }
  const skus = new Set<string>();
  for (const line of data.lines) {
    assertValidLine(line);
    if (skus.has(line.sku)) {
      throw new OrderRuleViolation('DUPLICATE_SKU', `sku ${line.sku} appears twice`);
    }
    skus.add(line.sku);
  }
  assertSafeTotal(data.lines);
  return { type: 'OrderPlaced', data: { ...data, lines: data.lines.map((line) => ({ ...line })) } };
}

function addOrderLine({ data }: AddOrderLine, state: OrderState): OrderLineAdded {
  const placed = requirePlaced(state);
  assertValidLine(data.line);
  if (placed.lines.some((line) => line.sku === data.line.sku)) {
    throw new OrderRuleViolation('DUPLICATE_SKU', `sku ${data.line.sku} is already on the order`);
  }
  if (placed.lines.length >= MAX_LINES_PER_ORDER) {
    throw new OrderRuleViolation('TOO_MANY_LINES', `an order has at most ${MAX_LINES_PER_ORDER} lines`);
  }
  assertSafeTotal([...placed.lines, data.line]);
  return { type: 'OrderLineAdded', data: { line: { ...data.line } } };
}

function removeOrderLine({ data }: RemoveOrderLine, state: OrderState): OrderLineRemoved {
  const placed = requirePlaced(state);
  if (!placed.lines.some((line) => line.sku === data.sku)) {
    throw new OrderRuleViolation('LINE_NOT_FOUND', `sku ${data.sku} is not on the order`);
  }
  return { type: 'OrderLineRemoved', data: { sku: data.sku } };
}

function confirmOrder({ data }: ConfirmOrder, state: OrderState): OrderConfirmed {
  const placed = requirePlaced(state);
  if (placed.lines.length === 0) {
    throw new OrderRuleViolation('ORDER_HAS_NO_LINES', 'an order without lines cannot be confirmed');
  }
  return { type: 'OrderConfirmed', data: { paymentReference: data.paymentReference } };
}

function shipOrder({ data }: ShipOrder, state: OrderState): OrderShipped {
  requireExisting(state);
  if (state.status !== 'CONFIRMED') {
    throw new OrderRuleViolation('ORDER_NOT_CONFIRMED', `a ${state.status} order cannot be shipped`);
  }
  return { type: 'OrderShipped', data: { carrier: data.carrier, trackingNumber: data.trackingNumber } };
}

function deliverOrder(_command: DeliverOrder, state: OrderState): OrderDelivered {
  requireExisting(state);
  if (state.status !== 'SHIPPED') {
    throw new OrderRuleViolation('ORDER_NOT_SHIPPED', `a ${state.status} order cannot be delivered`);
  }
  return { type: 'OrderDelivered', data: {} };
}

function cancelOrder({ data }: CancelOrder, state: OrderState): OrderCancelled {
  requireExisting(state);
  if (state.status !== 'PLACED' && state.status !== 'CONFIRMED') {
    throw new OrderRuleViolation('ORDER_NOT_CANCELLABLE', `a ${state.status} order cannot be cancelled`);
  }
  return { type: 'OrderCancelled', data: { reason: data.reason } };
}

function returnOrder({ data }: ReturnOrder, state: OrderState): OrderReturned {
  requireExisting(state);
  if (state.status !== 'DELIVERED') {
    throw new OrderRuleViolation('ORDER_NOT_DELIVERED', `a ${state.status} order cannot be returned`);
  }
  return { type: 'OrderReturned', data: { reason: data.reason } };
}

function requireExisting(state: OrderState): asserts state is Exclude<OrderState, { status: 'UNPLACED' }> {
  if (state.status === 'UNPLACED') {
    throw new OrderRuleViolation('ORDER_NOT_FOUND', 'the order does not exist');
  }
}

function requirePlaced(state: OrderState): Placed {
  requireExisting(state);
  if (state.status !== 'PLACED') {
    throw new OrderRuleViolation('ORDER_NOT_PLACED', `lines of a ${state.status} order cannot change`);
  }
  return state;
}

/** Totals are exact integers everywhere they travel (JSON, JavaScript numbers, Postgres bigint). */
function assertSafeTotal(lines: readonly OrderLine[]): void {
  const total = lines.reduce((sum, line) => sum + BigInt(line.quantity) * BigInt(line.unitPriceMinor), 0n);
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new OrderRuleViolation(
      'TOTAL_TOO_LARGE',
      `the order total must stay below ${Number.MAX_SAFE_INTEGER} minor units`,
    );
  }
}

function assertValidLine(line: OrderLine): void {
  if (!Number.isSafeInteger(line.quantity) || line.quantity <= 0) {
    throw new OrderRuleViolation('INVALID_QUANTITY', `quantity of ${line.sku} must be a positive integer`);
  }
  if (!Number.isSafeInteger(line.unitPriceMinor) || line.unitPriceMinor < 0) {
    throw new OrderRuleViolation(
      'INVALID_PRICE',
      `unit price of ${line.sku} must be a non-negative integer in minor units`,
    );
  }
}
