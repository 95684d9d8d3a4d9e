import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';

import { projections } from './index.js';
import { foldRows } from './kit/index.js';
import { orderView } from './order-view.projection.js';

const orderId = '0b8f5c1e-1d2b-4a8e-9b61-7c0f5a2d3e4f';
let version = 0;
function event(
  type: string,
  data: unknown,
  occurredAt = `2026-11-24T10:00:0${version}.000Z`,
): EventEnvelope<OrderEvent> {
  version++;
  return <EventEnvelope<OrderEvent>>{
    eventId: `e-${version}`,
    type,
    schemaVersion: 1,
    streamId: orderId,
    version,
    occurredAt,
    data,
  };
}

describe('order view', () => {
  it('folds a whole lifecycle into one row, with totals and status times from the events', () => {
    version = 0;
    const events = [
      event('OrderPlaced', {
        customerId: 'c-1',
        currency: 'EUR',
        lines: [{ sku: 'A', quantity: 2, unitPriceMinor: 500 }],
      }),
      event('OrderLineAdded', { line: { sku: 'B', quantity: 1, unitPriceMinor: 250 } }),
      event('OrderLineRemoved', { sku: 'A' }),
      event('OrderConfirmed', { paymentReference: 'pay-1' }),
      event('OrderShipped', { carrier: 'DHL', trackingNumber: 'T-1' }),
      event('OrderDelivered', {}),
    ];
    const row = foldRows(orderView, events).get(orderId);
    const [placed, , , confirmed, , delivered] = events;
    assert.ok(row && placed && confirmed && delivered);
    assert.equal(row.status, 'DELIVERED');
    assert.deepEqual(row.lines, [{ sku: 'B', quantity: 1, unitPriceMinor: 250 }]);
    assert.equal(row.total_minor, '250');
    assert.equal(row.version, 6);
    assert.equal(row.placed_at, placed.occurredAt);
    assert.equal(row.confirmed_at, confirmed.occurredAt);
    assert.equal(row.delivered_at, delivered.occurredAt);
    assert.equal(row.tracking_number, 'T-1');
  });

  it('records the cancellation reason', () => {
    version = 0;
    const events = [
      event('OrderPlaced', {
        customerId: 'c-1',
        currency: 'EUR',
        lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }],
      }),
      event('OrderCancelled', { reason: 'changed my mind' }),
    ];
    const row = foldRows(orderView, events).get(orderId);
    assert.ok(row);
    assert.equal(row.status, 'CANCELLED');
    assert.equal(row.cancel_reason, 'changed my mind');
  });

  it('refuses an event for an order it has never seen placed', () => {
    version = 1;
    assert.throws(
      () => foldRows(orderView, [event('OrderConfirmed', { paymentReference: 'p' })]),
      /before the stream's first event/,
    );
  });

  it('skips an event the row already reflects, so a row never goes back or counts twice', () => {
    version = 0;
    const placed = event('OrderPlaced', { customerId: 'c-1', currency: 'EUR', lines: [] });
    const added = event('OrderLineAdded', { line: { sku: 'B', quantity: 1, unitPriceMinor: 250 } });
    const once = foldRows(orderView, [placed, added]).get(orderId);
    const twice = foldRows(orderView, [placed, added, placed, added]).get(orderId);
    assert.deepEqual(twice, once);
    assert.equal(once?.applied_events, 2);
  });

  it('is the one projection readers wait on, so the only one that lingers briefly under load', () => {
    assert.deepEqual(
      projections.filter((projection) => projection.readersWait === true).map((projection) => projection.name),
      ['order-view'],
    );
  });
});
