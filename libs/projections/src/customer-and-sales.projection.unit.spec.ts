import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventEnvelope } from '@app/messaging';

import {
  evolveCustomerSummary,
  mergeDeltas,
  type CustomerDelta,
  type CustomerOrderRecord,
} from './customer-summary.projection.js';
import { bucketStart, evolveSales, type SalesOrderRecord } from './sales.projection.js';

const line = (sku: string, quantity: number, unitPriceMinor: number) => ({ sku, quantity, unitPriceMinor });
let version = 0;
function event(orderId: string, type: string, data: unknown, occurredAt: string): EventEnvelope {
  return { eventId: `${orderId}-${++version}`, type, schemaVersion: 1, streamId: orderId, version, occurredAt, data };
}

describe('customer summary', () => {
  it('counts orders, totals what is not cancelled per currency, and tracks the latest order', () => {
    const orders = new Map<string, CustomerOrderRecord>();
    const events = [
      event(
        'o1',
        'OrderPlaced',
        { customerId: 'c', currency: 'EUR', lines: [line('A', 2, 500)] },
        '2026-11-24T10:00:00.000Z',
      ),
      event(
        'o2',
        'OrderPlaced',
        { customerId: 'c', currency: 'USD', lines: [line('B', 1, 300)] },
        '2026-11-24T11:00:00.000Z',
      ),
      event('o1', 'OrderLineAdded', { line: line('C', 1, 100) }, '2026-11-24T12:00:00.000Z'),
      event('o1', 'OrderLineRemoved', { sku: 'A' }, '2026-11-24T12:30:00.000Z'),
      event('o2', 'OrderCancelled', { reason: 'x' }, '2026-11-24T13:00:00.000Z'),
      event('o2', 'OrderCancelled', { reason: 'a second cancellation changes nothing' }, '2026-11-24T13:30:00.000Z'),
      // Placed later in the log but earlier in time: not the latest order.
      event(
        'o3',
        'OrderPlaced',
        { customerId: 'c', currency: 'EUR', lines: [line('D', 1, 50)] },
        '2026-11-24T09:00:00.000Z',
      ),
    ];
    const summary = events.reduce<CustomerDelta | undefined>((sum, e) => {
      const delta = evolveCustomerSummary(orders, e);
      return delta ? mergeDeltas(sum, delta) : sum;
    }, undefined);
    assert.deepEqual(summary, {
      customer_id: 'c',
      order_count: 3,
      totals_by_currency: { EUR: 150n, USD: 0n },
      last_order_id: 'o2',
      last_order_at: '2026-11-24T11:00:00.000Z',
    });
  });

  it('merges deltas in any order to the same summary (workers of different partitions write one row)', () => {
    const deltas: CustomerDelta[] = [
      {
        customer_id: 'c',
        order_count: 1,
        totals_by_currency: { EUR: 100n },
        last_order_id: 'o1',
        last_order_at: '2026-11-24T10:00:00.000Z',
      },
      { customer_id: 'c', order_count: 0, totals_by_currency: { EUR: -40n }, last_order_id: null, last_order_at: null },
      {
        customer_id: 'c',
        order_count: 1,
        totals_by_currency: { USD: 7n },
        last_order_id: 'o2',
        last_order_at: '2026-11-24T09:00:00.000Z',
      },
    ];
    const forward = deltas.reduce<CustomerDelta | undefined>(mergeDeltas, undefined);
    const backward = [...deltas].reverse().reduce<CustomerDelta | undefined>(mergeDeltas, undefined);
    assert.deepEqual(forward, backward);
    assert.deepEqual(forward?.totals_by_currency, { EUR: 60n, USD: 7n });
  });
});

describe('sales', () => {
  it('books orders when placed, revenue when confirmed and cancellations when cancelled, per bucket', () => {
    const orders = new Map<string, SalesOrderRecord>();
    const deltas = [
      event(
        'o1',
        'OrderPlaced',
        { customerId: 'c', currency: 'EUR', lines: [line('A', 2, 500)] },
        '2026-11-24T10:03:00.000Z',
      ),
      event('o1', 'OrderLineAdded', { line: line('B', 1, 100) }, '2026-11-24T10:04:00.000Z'),
      event('o1', 'OrderConfirmed', { paymentReference: 'p' }, '2026-11-24T10:07:00.000Z'),
      event('o1', 'OrderCancelled', { reason: 'x' }, '2026-11-24T11:01:00.000Z'),
    ].flatMap((e) => evolveSales(orders, e));
    const fiveMinute = deltas
      .filter((d) => d.granularity === '5m')
      .map((d) => [d.bucket_start, d.orders, d.revenue_minor, d.cancellations]);
    assert.deepEqual(fiveMinute, [
      ['2026-11-24T10:00:00.000Z', 1, 0n, 0],
      ['2026-11-24T10:05:00.000Z', 0, 1100n, 0],
      ['2026-11-24T11:00:00.000Z', 0, 0n, 1],
    ]);
    assert.equal(bucketStart('2026-11-24T10:59:59.999Z', '1h'), '2026-11-24T10:00:00.000Z');
  });
});
