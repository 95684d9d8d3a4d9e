import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { countEffects, foldOrder, type FoldedOrder, type StoredEvent } from './fold.js';

const ORDER = '00000000-0000-4000-8000-000000000001';
let version = 0;
const event = (
  type: string,
  data: Record<string, unknown> = {},
  lines: StoredEvent['lines'] = null,
  at = `2026-12-02T10:0${String(version)}:00.000000Z`,
): StoredEvent => ({
  eventId: `e${String(++version)}`,
  orderId: ORDER,
  version,
  type,
  schemaVersion: 1,
  data: { ...linesAsStored(type, lines), ...data },
  lines,
  at,
});
/** The lines in the event's data, as the store holds them (the fold reads `lines`, exact, from SQL). */
function linesAsStored(type: string, lines: StoredEvent['lines']): Record<string, unknown> {
  const stored = (lines ?? []).map((l) => ({
    sku: l.sku,
    quantity: Number(l.quantity),
    unitPriceMinor: Number(l.unitPriceMinor),
  }));
  if (type === 'OrderPlaced') return { lines: stored };
  return type === 'OrderLineAdded' && stored[0] ? { line: stored[0] } : {};
}
const line = (sku: string, quantity: string, unitPriceMinor: string) => ({ sku, quantity, unitPriceMinor });

describe('foldOrder', () => {
  it('folds every column of the order view, the side tables and the bucket contributions', () => {
    version = 0;
    const order = foldOrder([
      event('OrderPlaced', { customerId: 'c1', currency: 'EUR' }, [line('A', '2', '1000000000000000000')]),
      event('OrderLineAdded', {}, [line('B', '1', '5')]),
      event('OrderLineRemoved', { sku: 'A' }),
      event('OrderConfirmed', { paymentReference: 'pay-1' }),
      event('OrderShipped', { carrier: 'DHL', trackingNumber: 'T-1' }),
      event('OrderCancelled', { reason: 'lost' }),
    ]) as FoldedOrder;
    assert.deepEqual(order.problems, []);
    assert.equal(order.view.total_minor, '5');
    assert.equal(order.view.version, 6);
    assert.equal(order.view.applied_events, 6);
    assert.equal(order.view.updated_at, '2026-12-02T10:05:00.000000Z');
    assert.deepEqual(
      [order.view.payment_reference, order.view.carrier, order.view.tracking_number, order.view.cancel_reason],
      ['pay-1', 'DHL', 'T-1', 'lost'],
    );
    assert.deepEqual(order.customerOrder, { lines: [], cancelled: true });
    assert.deepEqual(order.salesLines, [line('B', '1', '5')]);
    assert.equal(order.customerTotal, 0n);
    assert.deepEqual(order.totalEffects, [2_000_000_000_000_000_000n, 5n, -2_000_000_000_000_000_000n]);
    assert.deepEqual(order.customerEffects, [2_000_000_000_000_000_000n, 5n, -2_000_000_000_000_000_000n, -5n]);
    assert.deepEqual(
      order.buckets.map((b) => [b.key, b.orders, b.revenue, b.cancellations]),
      [
        ['5m|2026-12-02T10:00:00.000000Z|EUR', 1, 0n, 0],
        ['1h|2026-12-02T10:00:00.000000Z|EUR', 1, 0n, 0],
        ['5m|2026-12-02T10:00:00.000000Z|EUR', 0, 5n, 0],
        ['1h|2026-12-02T10:00:00.000000Z|EUR', 0, 5n, 0],
        ['5m|2026-12-02T10:05:00.000000Z|EUR', 0, 0n, 1],
        ['1h|2026-12-02T10:00:00.000000Z|EUR', 0, 0n, 1],
      ],
    );
  });

  it('reports a store that does not start with OrderPlaced, or skips a version', () => {
    version = 1;
    assert.match(
      foldOrder([event('OrderConfirmed', { paymentReference: 'p' })]).problems[0] ?? '',
      /not OrderPlaced at version 1/,
    );
    version = 0;
    const placed = event('OrderPlaced', { customerId: 'c1', currency: 'EUR' }, []);
    version = 2;
    assert.deepEqual(foldOrder([placed, event('OrderDelivered')]).problems, ['version 3 follows 1']);
  });

  it('reports a second OrderPlaced and a type no domain event has, and folds past them', () => {
    version = 0;
    const order = foldOrder([
      event('OrderPlaced', { customerId: 'c1', currency: 'EUR' }, []),
      event('OrderPlaced', { customerId: 'c2', currency: 'USD' }, []),
      event('OrderTeleported'),
      event('OrderDelivered'),
    ]) as FoldedOrder;
    assert.deepEqual(order.problems, [
      'version 2 places the order again',
      'version 3 has unknown type OrderTeleported',
    ]);
    assert.deepEqual([order.view.customer_id, order.view.status, order.view.version], ['c1', 'DELIVERED', 4]);
  });
});

describe('foldOrder through the event contract', () => {
  it('reads OrderPlaced v1 as placed on the web, and v2 with its channel', () => {
    version = 0;
    const v1 = foldOrder([event('OrderPlaced', { customerId: 'c1', currency: 'EUR' }, [])]) as FoldedOrder;
    assert.equal(v1.view.channel, 'web');
    version = 0;
    const v2 = foldOrder([
      { ...event('OrderPlaced', { customerId: 'c1', currency: 'EUR', channel: 'phone' }, []), schemaVersion: 2 },
    ]) as FoldedOrder;
    assert.equal(v2.view.channel, 'phone');
  });

  it('reports an event it cannot read: a version newer than it knows, or data off its schema', () => {
    version = 0;
    const order = foldOrder([
      event('OrderPlaced', { customerId: 'c1', currency: 'EUR' }, []),
      { ...event('OrderConfirmed', { paymentReference: 'p' }), schemaVersion: 2 },
      event('OrderShipped', { carrier: 7 }),
    ]) as FoldedOrder;
    assert.match(order.problems[0] ?? '', /version 2 \(OrderConfirmed\) cannot be read: OrderConfirmed v2 is newer/);
    assert.match(order.problems[1] ?? '', /version 3 \(OrderShipped\) cannot be read: .*\/carrier must be string/);
  });
});

describe('countEffects', () => {
  it('tells one event applied twice from one lost, and neither from other differences', () => {
    assert.equal(countEffects(700n, [100n, 700n]), 1);
    assert.equal(countEffects(-700n, [100n, 700n]), -1);
    assert.equal(countEffects(-100n, [-100n]), 1, 'a removed line applied twice takes its amount off again');
    assert.equal(countEffects(300n, [100n, 700n]), 0);
    assert.equal(countEffects(0n, [0n]), 0);
    assert.equal(countEffects(500n, [-500n, 500n]), 1, 'an exact match wins over an opposite effect listed first');
  });
});
