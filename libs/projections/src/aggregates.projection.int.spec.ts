import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { DataSource } from 'typeorm';

import type { OrderEvent } from '@app/orders-domain';
import { createDataSource } from '@app/platform';
import { createTestEnvironment, ProjectionSpecification, testStream, type TestEnvironment } from '@app/testing';

import { customerSummaryProjection } from './customer-summary.projection.js';
import { salesProjection } from './sales.projection.js';

const placed = (customerId: string, unitPriceMinor: number, currency = 'EUR'): OrderEvent => ({
  type: 'OrderPlaced',
  data: { customerId, currency, lines: [{ sku: 'BOOK-1', quantity: 2, unitPriceMinor }], channel: 'web' },
});
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const cancelled: OrderEvent = { type: 'OrderCancelled', data: { reason: 'out of stock' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };
const delivered: OrderEvent = { type: 'OrderDelivered', data: {} };
const returned: OrderEvent = { type: 'OrderReturned', data: { reason: 'arrived damaged' } };

/** Each test a day of its own, so that the sales buckets of one test (even hours after its start) never hold another's orders. */
let days = 0;
const anHourOfItsOwn = (): number => Date.parse('2026-05-01T00:00:00.000Z') + ++days * 86_400_000;

describe('customer summary and sales projections on real Postgres', () => {
  let env: TestEnvironment;
  let database: DataSource;

  before(async () => {
    env = await createTestEnvironment('aggregates_spec', { relayEnabled: false });
    database = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'aggregates-spec', poolSize: 4 });
  });

  after(async () => {
    await database.destroy();
    await env.dispose();
  });

  describe('customer summary', () => {
    const summary = () => ProjectionSpecification.for(customerSummaryProjection, { database });

    it("counts a customer's orders and totals them per currency", async () => {
      const customer = `customer-${randomUUID()}`;
      const [first, second, third] = [testStream(), testStream(), testStream()];
      await summary()
        .given(first.next(placed(customer, 1000)))
        .when(second.next(placed(customer, 250)), third.next(placed(customer, 100, 'USD')))
        .then(
          'customer_summary',
          [{ customer_id: customer, order_count: 3, totals_by_currency: { EUR: 2500, USD: 200 } }],
          { customer_id: customer },
        );
    });

    it('takes a cancelled order back out of the total, keeping it in the count', async () => {
      const customer = `customer-${randomUUID()}`;
      const [kept, dropped] = [testStream(), testStream()];
      await summary()
        .given(kept.next(placed(customer, 1000)), dropped.next(placed(customer, 400)), dropped.next(confirmed))
        .when(dropped.next(cancelled))
        .then('customer_summary', [{ customer_id: customer, order_count: 2, totals_by_currency: { EUR: 2000 } }], {
          customer_id: customer,
        });
    });

    it('takes a returned order back out of the total, keeping it in the count', async () => {
      const customer = `customer-${randomUUID()}`;
      const [kept, back] = [testStream(), testStream()];
      await summary()
        .given(
          kept.next(placed(customer, 1000)),
          back.next(placed(customer, 400)),
          back.next(confirmed),
          back.next(shipped),
          back.next(delivered),
        )
        .when(back.next(returned))
        .then('customer_summary', [{ customer_id: customer, order_count: 2, totals_by_currency: { EUR: 2000 } }], {
          customer_id: customer,
        });
    });

    it("keeps each order's lines and whether it was cancelled", async () => {
      const customer = `customer-${randomUUID()}`;
      const order = testStream();
      await summary()
        .given(order.next(placed(customer, 1000)))
        .when(order.next(cancelled))
        .then('customer_summary_orders', [{ order_id: order.id, customer_id: customer, lines: [], cancelled: true }]);
    });
  });

  describe('sales', () => {
    const sales = () => ProjectionSpecification.for(salesProjection, { database });

    it('counts orders placed, revenue confirmed and cancellations in the hour they happened', async () => {
      const start = anHourOfItsOwn();
      const hour = new Date(start).toISOString();
      const [paid, dropped] = [testStream(undefined, { startAt: start }), testStream(undefined, { startAt: start })];
      await sales()
        .given(paid.next(placed('c', 1000)), dropped.next(placed('c', 400)))
        .when(paid.next(confirmed), dropped.next(cancelled))
        .then('sales_buckets', [{ orders: 2, revenue_minor: '2000', cancellations: 1 }], {
          granularity: '1h',
          bucket_start: hour,
          currency: 'EUR',
        });
    });

    it('takes the revenue of a returned order back in the hour of the return', async () => {
      const start = anHourOfItsOwn();
      const order = testStream(undefined, { startAt: start });
      const returnedAt = new Date(start + 2 * 3_600_000);
      await sales()
        .given(order.next(placed('c', 1000)), order.next(confirmed), order.next(shipped), order.next(delivered))
        .when(order.next(returned, returnedAt.toISOString()))
        .then('sales_buckets', [{ orders: 0, revenue_minor: '-2000', cancellations: 0 }], {
          granularity: '1h',
          bucket_start: returnedAt.toISOString(),
          currency: 'EUR',
        });
    });
  });
});
