import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { OrderEvent } from '@app/orders-domain';
import {
  createTestEnvironment,
  httpSpecification,
  post,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

import { CommandApiModule } from '../command-api.module.js';

const placed: OrderEvent = {
  type: 'OrderPlaced',
  data: {
    customerId: 'customer-1',
    currency: 'EUR',
    lines: [{ sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 }],
    channel: 'web',
  },
};
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };
const delivered: OrderEvent = { type: 'OrderDelivered', data: {} };

describe('POST /orders/:id/return', () => {
  let env: TestEnvironment;
  let app: TestApp;
  let api: ReturnType<typeof httpSpecification>;

  before(async () => {
    env = await createTestEnvironment('return_order_http', { relayEnabled: false });
    app = await startTestApp(CommandApiModule, env.config);
    api = httpSpecification({ app, db: env.db });
  });

  after(async () => {
    await app.close();
    await env.dispose();
  });

  const returnOrder = (orderId: string, headers?: Record<string, string>) =>
    post(`/orders/${orderId}/return`, { reason: 'arrived damaged' }, headers);

  it('returns a delivered order', async () => {
    const orderId = randomUUID();
    await api
      .given(orderId, [placed, confirmed, shipped, delivered])
      .when(returnOrder(orderId, { 'If-Match': '"4"' }))
      .then({
        status: 200,
        body: { orderId, version: 5, status: 'RETURNED' },
        headers: { etag: '"5"' },
        appended: [{ type: 'OrderReturned', data: { reason: 'arrived damaged' } }],
      });
  });

  for (const [status, history] of [
    ['placed', [placed]],
    ['confirmed', [placed, confirmed]],
    ['shipped', [placed, confirmed, shipped]],
    ['returned', [placed, confirmed, shipped, delivered, { type: 'OrderReturned', data: { reason: 'once' } }]],
  ] as const) {
    it(`refuses a ${status} order with 409 ORDER_NOT_DELIVERED and appends nothing`, async () => {
      const orderId = randomUUID();
      await api
        .given(orderId, [...history])
        .when(returnOrder(orderId))
        .thenNothingAppended({ status: 409, body: { code: 'ORDER_NOT_DELIVERED' } });
    });
  }

  it('answers 404 for an order that does not exist', async () => {
    const orderId = randomUUID();
    await api.given(orderId, []).when(returnOrder(orderId)).thenNothingAppended({ status: 404 });
  });

  it('answers a repeated Idempotency-Key with the first answer and appends once', async () => {
    const orderId = randomUUID();
    const key = { 'Idempotency-Key': randomUUID() };
    await api
      .given(orderId, [placed, confirmed, shipped, delivered, returnOrder(orderId, key)])
      .when(returnOrder(orderId, key))
      .thenNothingAppended({
        status: 200,
        body: { version: 5, status: 'RETURNED' },
        headers: { 'idempotent-replayed': 'true' },
      });
  });

  it('refuses a stale If-Match with 412, and a missing or blank reason with 400, appending nothing', async () => {
    const orderId = randomUUID();
    const history = [placed, confirmed, shipped, delivered];
    await api
      .given(orderId, history)
      .when(returnOrder(orderId, { 'If-Match': '"3"' }))
      .thenNothingAppended({ status: 412 });
    for (const body of [{}, { reason: '' }, { reason: 'x', refund: true }]) {
      const other = randomUUID();
      await api
        .given(other, history)
        .when(post(`/orders/${other}/return`, body))
        .thenNothingAppended({ status: 400 });
    }
  });
});
