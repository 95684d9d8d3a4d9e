import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { deciderSpecification } from '@app/testing';

import type { OrderCommand } from './decide.js';
import { decide } from './decide.js';
import type { OrderRuleCode } from './decide.js';
import type { OrderEvent, OrderLine } from './order-events.js';
import { evolve } from './order.js';
import { ORDER_STATUSES, initialState, type OrderState } from './order.js';

const spec = deciderSpecification({ decide, evolve, initialState });

const book: OrderLine = { sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 };
const pen: OrderLine = { sku: 'PEN-1', quantity: 1, unitPriceMinor: 300 };

const placed: OrderEvent = {
  type: 'OrderPlaced',
  data: { customerId: 'c-1', currency: 'EUR', lines: [book], channel: 'web' },
};
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };
const delivered: OrderEvent = { type: 'OrderDelivered', data: {} };
const cancelled: OrderEvent = { type: 'OrderCancelled', data: { reason: 'changed my mind' } };
const returned: OrderEvent = { type: 'OrderReturned', data: { reason: 'arrived damaged' } };

/** The history that brings an order into each status, and the status it reaches. */
const histories = {
  'no order yet': { reaches: 'UNPLACED', events: [] },
  placed: { reaches: 'PLACED', events: [placed] },
  confirmed: { reaches: 'CONFIRMED', events: [placed, confirmed] },
  shipped: { reaches: 'SHIPPED', events: [placed, confirmed, shipped] },
  delivered: { reaches: 'DELIVERED', events: [placed, confirmed, shipped, delivered] },
  'cancelled while placed': { reaches: 'CANCELLED', events: [placed, cancelled] },
  'cancelled after confirmation': { reaches: 'CANCELLED', events: [placed, confirmed, cancelled] },
  returned: { reaches: 'RETURNED', events: [placed, confirmed, shipped, delivered, returned] },
} as const satisfies Record<string, { reaches: OrderState['status']; events: readonly OrderEvent[] }>;
type Status = keyof typeof histories;

// A new status fails typecheck here until a history reaches it, and so gets its column in the table below.
type Unreached = Exclude<OrderState['status'], (typeof histories)[Status]['reaches']>;
const everyStatusHasAHistory: [Unreached] extends [never] ? true : `no history reaches ${Unreached}` = true;

const commands = {
  PlaceOrder: { type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [book], channel: 'web' } },
  AddOrderLine: { type: 'AddOrderLine', data: { line: pen } },
  RemoveOrderLine: { type: 'RemoveOrderLine', data: { sku: book.sku } },
  ConfirmOrder: { type: 'ConfirmOrder', data: { paymentReference: 'pay-1' } },
  ShipOrder: { type: 'ShipOrder', data: { carrier: 'DHL', trackingNumber: 'T-1' } },
  DeliverOrder: { type: 'DeliverOrder', data: {} },
  CancelOrder: { type: 'CancelOrder', data: { reason: 'changed my mind' } },
  ReturnOrder: { type: 'ReturnOrder', data: { reason: 'arrived damaged' } },
} satisfies Record<OrderCommand['type'], OrderCommand>;
type CommandName = keyof typeof commands;

/** What each command does in each status: the events it decides, or the code of the rule it breaks. */
const expectations: Record<CommandName, Record<Status, OrderEvent | OrderRuleCode>> = {
  PlaceOrder: {
    'no order yet': placed,
    placed: 'ORDER_ALREADY_PLACED',
    confirmed: 'ORDER_ALREADY_PLACED',
    shipped: 'ORDER_ALREADY_PLACED',
    delivered: 'ORDER_ALREADY_PLACED',
    'cancelled while placed': 'ORDER_ALREADY_PLACED',
    'cancelled after confirmation': 'ORDER_ALREADY_PLACED',
    returned: 'ORDER_ALREADY_PLACED',
  },
  AddOrderLine: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: { type: 'OrderLineAdded', data: { line: pen } },
    confirmed: 'ORDER_NOT_PLACED',
    shipped: 'ORDER_NOT_PLACED',
    delivered: 'ORDER_NOT_PLACED',
    'cancelled while placed': 'ORDER_NOT_PLACED',
    'cancelled after confirmation': 'ORDER_NOT_PLACED',
    returned: 'ORDER_NOT_PLACED',
  },
  RemoveOrderLine: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: { type: 'OrderLineRemoved', data: { sku: book.sku } },
    confirmed: 'ORDER_NOT_PLACED',
    shipped: 'ORDER_NOT_PLACED',
    delivered: 'ORDER_NOT_PLACED',
    'cancelled while placed': 'ORDER_NOT_PLACED',
    'cancelled after confirmation': 'ORDER_NOT_PLACED',
    returned: 'ORDER_NOT_PLACED',
  },
  ConfirmOrder: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: confirmed,
    confirmed: 'ORDER_NOT_PLACED',
    shipped: 'ORDER_NOT_PLACED',
    delivered: 'ORDER_NOT_PLACED',
    'cancelled while placed': 'ORDER_NOT_PLACED',
    'cancelled after confirmation': 'ORDER_NOT_PLACED',
    returned: 'ORDER_NOT_PLACED',
  },
  ShipOrder: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: 'ORDER_NOT_CONFIRMED',
    confirmed: shipped,
    shipped: 'ORDER_NOT_CONFIRMED',
    delivered: 'ORDER_NOT_CONFIRMED',
    'cancelled while placed': 'ORDER_NOT_CONFIRMED',
    'cancelled after confirmation': 'ORDER_NOT_CONFIRMED',
    returned: 'ORDER_NOT_CONFIRMED',
  },
  DeliverOrder: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: 'ORDER_NOT_SHIPPED',
    confirmed: 'ORDER_NOT_SHIPPED',
    shipped: delivered,
    delivered: 'ORDER_NOT_SHIPPED',
    'cancelled while placed': 'ORDER_NOT_SHIPPED',
    'cancelled after confirmation': 'ORDER_NOT_SHIPPED',
    returned: 'ORDER_NOT_SHIPPED',
  },
  CancelOrder: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: cancelled,
    confirmed: cancelled,
    shipped: 'ORDER_NOT_CANCELLABLE',
    delivered: 'ORDER_NOT_CANCELLABLE',
    'cancelled while placed': 'ORDER_NOT_CANCELLABLE',
    'cancelled after confirmation': 'ORDER_NOT_CANCELLABLE',
    returned: 'ORDER_NOT_CANCELLABLE',
  },
  ReturnOrder: {
    'no order yet': 'ORDER_NOT_FOUND',
    placed: 'ORDER_NOT_DELIVERED',
    confirmed: 'ORDER_NOT_DELIVERED',
    shipped: 'ORDER_NOT_DELIVERED',
    delivered: returned,
    'cancelled while placed': 'ORDER_NOT_DELIVERED',
    'cancelled after confirmation': 'ORDER_NOT_DELIVERED',
    returned: 'ORDER_NOT_DELIVERED',
  },
};

describe('the histories of the table', () => {
  it('reach every status', () => {
    assert.equal(everyStatusHasAHistory, true);
    assert.deepEqual(
      new Set(Object.values(histories).map(({ reaches }) => reaches)),
      new Set([initialState.status, ...ORDER_STATUSES]),
    );
  });
  for (const [status, { reaches, events }] of Object.entries(histories)) {
    it(`${status} reaches ${reaches}`, () => {
      assert.equal(events.reduce(evolve, initialState).status, reaches);
    });
  }
});

describe('every command in every status', () => {
  for (const [name, byStatus] of Object.entries(expectations) as [
    CommandName,
    Record<Status, OrderEvent | OrderRuleCode>,
  ][]) {
    describe(name, () => {
      for (const [status, expected] of Object.entries(byStatus) as [Status, OrderEvent | OrderRuleCode][]) {
        const outcome = typeof expected === 'string' ? `is rejected with ${expected}` : `decides ${expected.type}`;
        it(`when ${status}: ${outcome}`, () => {
          const when = spec.given(histories[status].events).when(commands[name]);
          if (typeof expected === 'string') when.thenThrows(expected);
          else when.then([expected]);
        });
      }
    });
  }
});

describe('PlaceOrder rules', () => {
  const place = (data: Partial<{ customerId: string; currency: string; lines: OrderLine[] }>) =>
    spec.given([]).when({
      type: 'PlaceOrder',
      data: { customerId: 'c-1', currency: 'EUR', lines: [book], channel: 'web', ...data },
    });

  it('rejects an unknown currency', () => {
    place({ currency: 'XYZ' }).thenThrows('INVALID_CURRENCY');
  });

  it('rejects an order without lines', () => {
    place({ lines: [] }).thenThrows('ORDER_HAS_NO_LINES');
  });

  it('accepts 100 lines and rejects 101', () => {
    const lines = (count: number) => Array.from({ length: count }, (_, index) => ({ ...book, sku: `SKU-${index}` }));
    place({ lines: lines(100) }).then([
      { type: 'OrderPlaced', data: { customerId: 'c-1', currency: 'EUR', lines: lines(100), channel: 'web' } },
    ]);
    place({ lines: lines(101) }).thenThrows('TOO_MANY_LINES');
  });

  it('rejects the same sku twice', () => {
    place({ lines: [book, book] }).thenThrows('DUPLICATE_SKU');
  });

  it('rejects a quantity that is not a positive integer', () => {
    for (const quantity of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      place({ lines: [{ ...book, quantity }] }).thenThrows('INVALID_QUANTITY');
    }
  });

  it('rejects an order whose total would not be an exact integer', () => {
    const costly = { sku: 'GOLD', quantity: 1_000_000, unitPriceMinor: 1_000_000_000_000 };
    place({ lines: [costly] }).thenThrows('TOTAL_TOO_LARGE');
    spec
      .given([placed])
      .when({ type: 'AddOrderLine', data: { line: costly } })
      .thenThrows('TOTAL_TOO_LARGE');
  });

  it('rejects a price that is not integer minor units', () => {
    for (const unitPriceMinor of [-1, 12.5, Number.POSITIVE_INFINITY]) {
      place({ lines: [{ ...book, unitPriceMinor }] }).thenThrows('INVALID_PRICE');
    }
  });
});

describe('line rules while placed', () => {
  it('rejects adding a sku that is already on the order', () => {
    spec
      .given([placed])
      .when({ type: 'AddOrderLine', data: { line: book } })
      .thenThrows('DUPLICATE_SKU');
  });

  it('rejects a 101st line', () => {
    const lines = Array.from({ length: 100 }, (_, index) => ({ ...book, sku: `SKU-${index}` }));
    spec
      .given([{ type: 'OrderPlaced', data: { customerId: 'c-1', currency: 'EUR', lines, channel: 'web' } }])
      .when({ type: 'AddOrderLine', data: { line: pen } })
      .thenThrows('TOO_MANY_LINES');
  });

  it('rejects adding a line with an invalid quantity or price', () => {
    spec
      .given([placed])
      .when({ type: 'AddOrderLine', data: { line: { ...pen, quantity: 0 } } })
      .thenThrows('INVALID_QUANTITY');
    spec
      .given([placed])
      .when({ type: 'AddOrderLine', data: { line: { ...pen, unitPriceMinor: -5 } } })
      .thenThrows('INVALID_PRICE');
  });

  it('rejects removing a sku that is not on the order', () => {
    spec
      .given([placed])
      .when({ type: 'RemoveOrderLine', data: { sku: 'NOPE' } })
      .thenThrows('LINE_NOT_FOUND');
  });

  it('rejects confirming an order whose lines were all removed', () => {
    spec
      .given([placed, { type: 'OrderLineRemoved', data: { sku: book.sku } }])
      .when({ type: 'ConfirmOrder', data: { paymentReference: 'pay-1' } })
      .thenThrows('ORDER_HAS_NO_LINES');
  });

  it('lets a removed sku be added again', () => {
    spec
      .given([placed, { type: 'OrderLineRemoved', data: { sku: book.sku } }])
      .when({ type: 'AddOrderLine', data: { line: book } })
      .then([{ type: 'OrderLineAdded', data: { line: book } }]);
  });
});
