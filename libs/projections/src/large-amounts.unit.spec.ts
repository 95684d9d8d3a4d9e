import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';

import { customerSummary } from './customer-summary.projection.js';
import { foldAggregate, foldRows, toSqlJson } from './kit/index.js';
import { totalOf } from './order-lines.js';
import { orderView } from './order-view.projection.js';
import { sales } from './sales.projection.js';

/** The largest line the command API's request bounds let through: a million units at 10^12 minor units. */
const MAX_QUANTITY = 1_000_000;
const MAX_PRICE = 1_000_000_000_000;
const maxLine = (sku: string) => ({ sku, quantity: MAX_QUANTITY, unitPriceMinor: MAX_PRICE });
/** A hundred such lines: 10^20 minor units, past 2^64. */
const maxLines = Array.from({ length: 100 }, (_, index) => maxLine(`MAX-${index}`));
const MAX_ORDER = 10n ** 20n;
const BIGINT_MAX = 2n ** 63n - 1n;

let version = 0;
function event(
  orderId: string,
  type: OrderEvent['type'],
  data: unknown,
  occurredAt = '2026-11-24T10:00:00.000Z',
): EventEnvelope<OrderEvent> {
  return {
    eventId: `${orderId}-${++version}`,
    type,
    schemaVersion: 1,
    streamId: orderId,
    version,
    occurredAt,
    data,
  } as EventEnvelope<OrderEvent>;
}

describe('totals of huge orders', () => {
  it('are exact where a JavaScript number would round', () => {
    assert.equal(totalOf(maxLines), MAX_ORDER);
    const lines = [
      { sku: 'A', quantity: MAX_QUANTITY, unitPriceMinor: MAX_PRICE - 1 },
      { sku: 'B', quantity: 1, unitPriceMinor: 1 },
    ];
    assert.equal(totalOf(lines), 999_999_999_999_000_001n);
    assert.notEqual(
      BigInt(lines.reduce((sum, line) => sum + line.quantity * line.unitPriceMinor, 0)),
      totalOf(lines),
      'numbers lose the last digits',
    );
  });

  it('travel to SQL as decimal strings, every digit kept', () => {
    assert.equal(
      toSqlJson([{ revenue_minor: MAX_ORDER * 3n + 7n, orders: 1, nested: { EUR: -5n } }]),
      '[{"revenue_minor":"300000000000000000007","orders":1,"nested":{"EUR":"-5"}}]',
    );
  });
});

describe('order view of a huge order', () => {
  it('keeps its total exact through lines added and removed', () => {
    const id = 'o-huge';
    const row = foldRows(orderView, [
      event(id, 'OrderPlaced', { customerId: 'whale', currency: 'EUR', lines: maxLines }),
      event(id, 'OrderLineAdded', { line: { sku: 'ODD', quantity: 3, unitPriceMinor: 333_333_333_333 } }),
      event(id, 'OrderLineRemoved', { sku: 'MAX-0' }),
      event(id, 'OrderConfirmed', { paymentReference: 'p' }),
    ]).get(id);
    assert.ok(row);
    assert.equal(row.total_minor, (MAX_ORDER - 10n ** 18n + 999_999_999_999n).toString());
    assert.equal(row.total_minor, '99000000999999999999');
  });
});

describe('customer summary of huge orders', () => {
  it('sums past bigint exactly, cancellations and removed lines included, in any order of orders', () => {
    const events: EventEnvelope<OrderEvent>[] = [];
    for (let index = 0; index < 200; index++) {
      const id = `o-${index}`;
      events.push(event(id, 'OrderPlaced', { customerId: 'whale', currency: 'EUR', lines: maxLines }));
      if (index % 7 === 0) events.push(event(id, 'OrderLineRemoved', { sku: 'MAX-1' }));
      if (index % 10 === 0) events.push(event(id, 'OrderCancelled', { reason: 'x' }));
    }
    // 20 orders cancelled; of the other 180, 26 lost one line of 10^18.
    const expected = 180n * MAX_ORDER - 26n * 10n ** 18n;
    const [forward] = foldAggregate(customerSummary, events).deltas;
    const lastOrdersFirst = [...new Set(events.map((e) => e.streamId))]
      .reverse()
      .flatMap((id) => events.filter((e) => e.streamId === id));
    const [backward] = foldAggregate(customerSummary, lastOrdersFirst).deltas;
    assert.ok(forward && backward);
    assert.equal(forward.totals_by_currency.EUR, expected);
    assert.equal(backward.totals_by_currency.EUR, expected);
    assert.equal(forward.order_count, 200);
    assert.ok(expected > 1_000n * BIGINT_MAX, 'past bigint a thousand times over');
  });
});

describe('sales of huge orders', () => {
  it('books revenue past bigint exactly in one bucket', () => {
    const events: EventEnvelope<OrderEvent>[] = [];
    for (let index = 0; index < 300; index++) {
      const id = `s-${index}`;
      events.push(
        event(id, 'OrderPlaced', { customerId: 'whale', currency: 'USD', lines: maxLines }, '2026-11-24T10:01:00.000Z'),
        event(id, 'OrderLineAdded', { line: maxLine('EXTRA') }, '2026-11-24T10:02:00.000Z'),
        event(id, 'OrderConfirmed', { paymentReference: 'p' }, '2026-11-24T10:03:00.000Z'),
      );
    }
    // As apply folds a batch per bucket before its upsert: one delta per bucket.
    const hourly = foldAggregate(sales, events).deltas.filter((delta) => delta.granularity === '1h');
    assert.equal(hourly.length, 1);
    const revenue = hourly[0]!.revenue_minor;
    assert.equal(revenue, 300n * (MAX_ORDER + 10n ** 18n));
    assert.ok(revenue > 1_000n * BIGINT_MAX, 'past bigint a thousand times over');
  });
});
