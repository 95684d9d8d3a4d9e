import { describe, it } from 'node:test';

import { deciderSpecification } from '@app/testing';

import { decide } from './decide.js';
import type { OrderEvent, OrderLine } from './events.js';
import { evolve } from './evolve.js';
import { initialState } from './state.js';

const spec = deciderSpecification({ decide, evolve, initialState });

const book: OrderLine = { sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 };
const pen: OrderLine = { sku: 'PEN-1', quantity: 1, unitPriceMinor: 300 };
const placed: OrderEvent = { type: 'OrderPlaced', data: { customerId: 'c-1', currency: 'EUR', lines: [book] } };

describe('PlaceOrder', () => {
  describe('when no order exists', () => {
    it('places the order with its lines', () => {
      spec
        .given([])
        .when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [book] } })
        .then([placed]);
    });

    it('rejects an unknown currency', () => {
      spec.given([]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'XYZ', lines: [book] } }).thenThrows('INVALID_CURRENCY');
    });

    it('rejects an order without lines', () => {
      spec.given([]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [] } }).thenThrows('ORDER_HAS_NO_LINES');
    });

    it('rejects more than 100 lines', () => {
      const lines = Array.from({ length: 101 }, (_, index) => ({ ...book, sku: `SKU-${index}` }));
      spec.given([]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines } }).thenThrows('TOO_MANY_LINES');
    });

    it('rejects the same sku twice', () => {
      spec.given([]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [book, book] } }).thenThrows('DUPLICATE_SKU');
    });

    it('rejects a quantity that is not a positive integer', () => {
      for (const quantity of [0, -1, 1.5, Number.NaN]) {
        spec.given([]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [{ ...book, quantity }] } }).thenThrows('INVALID_QUANTITY');
      }
    });

    it('rejects a price that is not integer minor units', () => {
      for (const unitPriceMinor of [-1, 12.5]) {
        spec.given([]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [{ ...book, unitPriceMinor }] } }).thenThrows('INVALID_PRICE');
      }
    });
  });

  describe('when placed', () => {
    it('rejects placing it again', () => {
      spec.given([placed]).when({ type: 'PlaceOrder', data: { customerId: 'c-1', currency: 'EUR', lines: [book] } }).thenThrows('ORDER_ALREADY_PLACED');
    });
  });
});

describe('AddOrderLine', () => {
  it('adds a line while placed', () => {
    spec.given([placed]).when({ type: 'AddOrderLine', data: { line: pen } }).then([{ type: 'OrderLineAdded', data: { line: pen } }]);
  });

  it('rejects a line for an order that does not exist', () => {
    spec.given([]).when({ type: 'AddOrderLine', data: { line: pen } }).thenThrows('ORDER_NOT_FOUND');
  });

  it('rejects a line once confirmed', () => {
    spec
      .given([placed, { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } }])
      .when({ type: 'AddOrderLine', data: { line: pen } })
      .thenThrows('ORDER_NOT_PLACED');
  });
});

describe('ConfirmOrder', () => {
  it('confirms a placed order with lines', () => {
    spec.given([placed]).when({ type: 'ConfirmOrder', data: { paymentReference: 'pay-1' } }).then([{ type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } }]);
  });

  it('rejects confirming an order whose lines were all removed', () => {
    spec
      .given([placed, { type: 'OrderLineRemoved', data: { sku: book.sku } }])
      .when({ type: 'ConfirmOrder', data: { paymentReference: 'pay-1' } })
      .thenThrows('ORDER_HAS_NO_LINES');
  });
});
