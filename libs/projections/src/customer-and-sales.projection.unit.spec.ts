import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';

import { customerSummary } from './customer-summary.projection.js';
import { foldAggregate } from './kit/index.js';
import { bucketStart, sales } from './sales.projection.js';

const line = (sku: string, quantity: number, unitPriceMinor: number) => ({ sku, quantity, unitPriceMinor });
const versions = new Map<string, number>();
function event(
  orderId: string,
  type: OrderEvent['type'],
  data: unknown,
  occurredAt: string,
): EventEnvelope<OrderEvent> {
  const version = (versions.get(orderId) ?? 0) + 1;
  versions.set(orderId, version);
  return {
    eventId: `${orderId}-${version}`,
    type,
    schemaVersion: 1,
    streamId: orderId,
    version,
    occurredAt,
    data,
  } as EventEnvelope<OrderEvent>;
}

describe('customer summary', () => {
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

  it('counts orders, totals what is not cancelled per currency, and tracks the latest order', () => {
    assert.deepEqual(foldAggregate(customerSummary, events).deltas, [
      {
        customer_id: 'c',
        order_count: 3,
        totals_by_currency: { EUR: 150n, USD: 0n },
        last_order_id: 'o2',
        last_order_at: '2026-11-24T11:00:00.000Z',
      },
    ]);
  });

  it('gives the same deltas whatever the interleaving of orders (workers of different partitions write one row)', () => {
    const byOrder = (id: string) => events.filter((e) => e.streamId === id);
    const interleaved = [...byOrder('o3'), ...byOrder('o2'), ...byOrder('o1')];
    assert.deepEqual(foldAggregate(customerSummary, interleaved).deltas, foldAggregate(customerSummary, events).deltas);
  });
});

describe('sales', () => {
  it('books orders when placed, revenue when confirmed and cancellations when cancelled, per bucket', () => {
    const { deltas } = foldAggregate(sales, [
      event(
        's1',
        'OrderPlaced',
        { customerId: 'c', currency: 'EUR', lines: [line('A', 2, 500)] },
        '2026-11-24T10:03:00.000Z',
      ),
      event('s1', 'OrderLineAdded', { line: line('B', 1, 100) }, '2026-11-24T10:04:00.000Z'),
      event('s1', 'OrderConfirmed', { paymentReference: 'p' }, '2026-11-24T10:07:00.000Z'),
      event('s1', 'OrderCancelled', { reason: 'x' }, '2026-11-24T11:01:00.000Z'),
    ]);
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

describe('the kit under two spellings of one stream or one key', () => {
  it('treats an upper-case stream id as the same stream: a redelivered placement counts once', () => {
    const id = '0b8f5c1e-1d2b-4a8e-9b61-7c0f5a2d3e4f';
    const placedAgain = {
      ...event(id, 'OrderPlaced', { customerId: 'k', currency: 'EUR', lines: [] }, '2026-11-24T10:00:00.000Z'),
    };
    const first = { ...placedAgain, version: 1 };
    const shouted = { ...placedAgain, version: 1, streamId: id.toUpperCase() };
    assert.equal(foldAggregate(customerSummary, [first, shouted]).deltas[0]?.order_count, 1);
  });

  it('merges deltas whose time keys are spelt differently into one row', () => {
    const spelt = ['2026-11-24T10:00:00Z', '2026-11-24T10:00:00.000Z', '2026-11-24T11:00:00+01:00'];
    const events = spelt.map((at, index) =>
      event(`t${String(index)}`, 'OrderPlaced', { customerId: 'k', currency: 'EUR', lines: [] }, at),
    );
    const hourly = foldAggregate(sales, events).deltas.filter((delta) => delta.granularity === '1h');
    assert.deepEqual(
      hourly.map((delta) => [delta.bucket_start, delta.orders]),
      [['2026-11-24T10:00:00.000Z', 3]],
    );
  });
});
