import assert from 'node:assert/strict';
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

describe('POST /orders/:id/cancel', () => {
  let env: TestEnvironment;
  let app: TestApp;
  let api: ReturnType<typeof httpSpecification>;

  before(async () => {
    env = await createTestEnvironment('cancel_order_http', { relayEnabled: false });
    app = await startTestApp(CommandApiModule, env.config);
    api = httpSpecification({ app, db: env.db });
  });

  after(async () => {
    await app.close();
    await env.dispose();
  });

  const cancel = (orderId: string, headers?: Record<string, string>) =>
    post(`/orders/${orderId}/cancel`, { reason: 'changed my mind' }, headers);

  it('cancels a placed order', async () => {
    const orderId = randomUUID();
    await api
      .given(orderId, [placed])
      .when(cancel(orderId))
      .then({
        status: 200,
        body: { orderId, version: 2, status: 'CANCELLED' },
        headers: { etag: '"2"' },
        appended: [{ type: 'OrderCancelled', data: { reason: 'changed my mind' } }],
      });
  });

  it('cancels an order placed and confirmed over HTTP', async () => {
    const orderId = randomUUID();
    await api
      .given(orderId, [placed, post(`/orders/${orderId}/confirm`, { paymentReference: 'pay-2' })])
      .when(cancel(orderId))
      .then({ status: 200, body: { status: 'CANCELLED', version: 3 }, appended: [{ type: 'OrderCancelled' }] });
  });

  it('refuses a shipped order with 409 ORDER_NOT_CANCELLABLE and appends nothing', async () => {
    const orderId = randomUUID();
    await api
      .given(orderId, [placed, confirmed, shipped])
      .when(cancel(orderId))
      .thenNothingAppended({ status: 409, body: { code: 'ORDER_NOT_CANCELLABLE' } });
  });

  it('refuses an If-Match of a version the order is no longer at with 412 and appends nothing', async () => {
    const orderId = randomUUID();
    await api
      .given(orderId, [placed, confirmed])
      .when(cancel(orderId, { 'If-Match': '"1"' }))
      .thenNothingAppended({ status: 412 });
  });

  it('refuses a request without a reason with 400 and appends nothing', async () => {
    const orderId = randomUUID();
    await api
      .given(orderId, [placed])
      .when(post(`/orders/${orderId}/cancel`, {}))
      .thenNothingAppended({ status: 400 });
  });

  it('fails its own check when a request it expects to change nothing appended an event', async () => {
    const orderId = randomUUID();
    await assert.rejects(
      api.given(orderId, [placed]).when(cancel(orderId)).thenNothingAppended(),
      /changed the stream/,
    );
  });
});
