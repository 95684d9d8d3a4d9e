import { after, before, describe, it } from 'node:test';

import type { DataSource } from 'typeorm';

import type { OrderEvent } from '@app/orders-domain';
import { createDataSource } from '@app/platform';
import { createTestEnvironment, ProjectionSpecification, testStream, type TestEnvironment } from '@app/testing';

import { topSkusProjection } from './top-skus.projection.js';

const placed = (sku: string, quantity: number, currency = 'EUR'): OrderEvent => ({
  type: 'OrderPlaced',
  data: { customerId: 'c', currency, lines: [{ sku, quantity, unitPriceMinor: 250 }], channel: 'web' },
});
const added = (sku: string, quantity: number): OrderEvent => ({
  type: 'OrderLineAdded',
  data: { line: { sku, quantity, unitPriceMinor: 100 } },
});
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };
const delivered: OrderEvent = { type: 'OrderDelivered', data: {} };
const cancelled: OrderEvent = { type: 'OrderCancelled', data: { reason: 'out of stock' } };
const returned: OrderEvent = { type: 'OrderReturned', data: { reason: 'arrived damaged' } };

/** Each test a day and SKUs of its own, so one test's rows (even hours later) never hold another's orders. */
let tests = 0;
function anHourOfItsOwn(): { hour: string; at: number; sku: (name: string) => string } {
  const at = Date.parse('2026-06-01T00:00:00.000Z') + ++tests * 86_400_000;
  return { hour: new Date(at).toISOString(), at, sku: (name) => `${name}-${String(tests)}` };
}

describe('top-skus projection on real Postgres', () => {
  let env: TestEnvironment;
  let database: DataSource;
  let spec: ProjectionSpecification;

  before(async () => {
    env = await createTestEnvironment('top_skus_spec', { relayEnabled: false });
    database = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'top-skus-spec', poolSize: 4 });
    spec = ProjectionSpecification.for(topSkusProjection, { database });
  });

  after(async () => {
    await database.destroy();
    await env.dispose();
  });

  it('counts the units and revenue of confirmed orders, per SKU, in the hour of the confirmation', async () => {
    const { hour, at, sku } = anHourOfItsOwn();
    const [first, second] = [testStream(undefined, { startAt: at }), testStream(undefined, { startAt: at })];
    await spec
      .given(first.next(placed(sku('A'), 2)), first.next(added(sku('B'), 1)), second.next(placed(sku('A'), 3, 'USD')))
      .when(first.next(confirmed), second.next(confirmed))
      .then(
        'top_skus',
        [
          { hour, sku: sku('A'), quantity: '5', revenue_by_currency: { EUR: 500, USD: 750 } },
          { hour, sku: sku('B'), quantity: '1', revenue_by_currency: { EUR: 100 } },
        ],
        { hour },
      );
  });

  it('takes a returned or cancelled order back out of the hour it was counted in, and ignores unconfirmed ones', async () => {
    const { hour, at, sku } = anHourOfItsOwn();
    const [kept, back, dropped, open] = [0, 1, 2, 3].map(() => testStream(undefined, { startAt: at }));
    await spec
      .given(
        kept!.next(placed(sku('A'), 1)),
        kept!.next(confirmed),
        back!.next(placed(sku('A'), 4)),
        back!.next(confirmed),
        back!.next(shipped),
        back!.next(delivered),
        dropped!.next(placed(sku('A'), 8)),
        dropped!.next(confirmed),
        open!.next(placed(sku('A'), 16)),
      )
      .when(back!.next(returned, new Date(at + 5 * 3_600_000).toISOString()), dropped!.next(cancelled))
      .then('top_skus', [{ hour, sku: sku('A'), quantity: '1', revenue_by_currency: { EUR: 250 } }], { hour });
  });
});
