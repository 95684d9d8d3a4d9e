import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { DataSource } from 'typeorm';

import type { OrderEvent } from '@app/orders-domain';
import { createDataSource } from '@app/platform';
import { createTestEnvironment, ProjectionSpecification, testStream, type TestEnvironment } from '@app/testing';

import { liveGeneration } from './generations.js';
import { orderViewProjection } from './order-view.projection.js';
import type { Projection } from './projection.js';

const placed = (customerId = 'customer-1'): OrderEvent => ({
  type: 'OrderPlaced',
  data: { customerId, currency: 'EUR', lines: [{ sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 }], channel: 'web' },
});
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };
const cancelled: OrderEvent = { type: 'OrderCancelled', data: { reason: 'changed my mind' } };
const delivered: OrderEvent = { type: 'OrderDelivered', data: {} };
const returned: OrderEvent = { type: 'OrderReturned', data: { reason: 'arrived damaged' } };

describe('order view projection on real Postgres', () => {
  let env: TestEnvironment;
  let database: DataSource;
  let spec: ProjectionSpecification;

  before(async () => {
    env = await createTestEnvironment('order_view_spec', { relayEnabled: false });
    database = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'order-view-spec', poolSize: 4 });
    spec = ProjectionSpecification.for(orderViewProjection, { database });
  });

  after(async () => {
    await database.destroy();
    await env.dispose();
  });

  describe('when placed', () => {
    it('shows the order with its lines and total', async () => {
      const order = testStream();
      await spec.when(order.next(placed('customer-7'))).then('order_view', [
        {
          order_id: order.id,
          customer_id: 'customer-7',
          status: 'PLACED',
          lines: [{ sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 }],
          total_minor: '2500',
          version: 1,
          placed_at: '2026-01-01T00:00:00.000Z',
        },
      ]);
    });

    it('keeps the total with the lines as they are added and removed', async () => {
      const order = testStream();
      await spec
        .given(order.next(placed()))
        .when(
          order.next({ type: 'OrderLineAdded', data: { line: { sku: 'PEN-1', quantity: 3, unitPriceMinor: 99 } } }),
          order.next({ type: 'OrderLineRemoved', data: { sku: 'BOOK-1' } }),
        )
        .then('order_view', [{ order_id: order.id, total_minor: '297', version: 3 }]);
    });
  });

  describe('when confirmed', () => {
    it('shows a shipment with its carrier, tracking number and time', async () => {
      const order = testStream();
      await spec
        .given(order.next(placed()), order.next(confirmed))
        .when(order.next(shipped, '2026-03-04T05:06:07.000Z'))
        .then('order_view', [
          {
            order_id: order.id,
            status: 'SHIPPED',
            payment_reference: 'pay-1',
            carrier: 'DHL',
            tracking_number: 'T-1',
            shipped_at: '2026-03-04T05:06:07.000Z',
            updated_at: '2026-03-04T05:06:07.000Z',
            version: 3,
          },
        ]);
    });

    it('shows a cancellation with its reason', async () => {
      const order = testStream();
      await spec
        .given(order.next(placed()), order.next(confirmed))
        .when(order.next(cancelled))
        .then('order_view', [{ order_id: order.id, status: 'CANCELLED', cancel_reason: 'changed my mind' }]);
    });

    it('shows a return with its reason and time', async () => {
      const order = testStream();
      await spec
        .given(order.next(placed()), order.next(confirmed), order.next(shipped), order.next(delivered))
        .when(order.next(returned, '2026-04-05T06:07:08.000Z'))
        .then('order_view', [
          {
            order_id: order.id,
            status: 'RETURNED',
            returned_at: '2026-04-05T06:07:08.000Z',
            return_reason: 'arrived damaged',
            total_minor: '2500',
            version: 5,
          },
        ]);
    });
  });

  it('applies a batch of several orders, each to its own row', async () => {
    const [first, second] = [testStream(), testStream()];
    await spec.when(first.next(placed('a')), second.next(placed('b')), second.next(confirmed)).then('order_view', [
      { order_id: second.id, customer_id: 'b', status: 'CONFIRMED' },
      { order_id: first.id, customer_id: 'a', status: 'PLACED' },
    ]);
  });

  it('refuses an event of an order it never saw placed', async () => {
    const order = testStream();
    order.next(placed());
    await spec.when(order.next(shipped)).thenThrows(new RegExp(`OrderShipped for ${order.id} before`));
  });

  describe('the specification itself', () => {
    it('fails on a row that differs from the expected one', async () => {
      const order = testStream();
      await assert.rejects(
        spec.when(order.next(placed())).then('order_view', [{ order_id: order.id, status: 'SHIPPED' }]),
        assert.AssertionError,
      );
    });

    it('fails on a projection whose second application of the same events changes a row', async () => {
      // Counts every application, not every new version: exactly what a redelivery must not do.
      const counting: Projection = {
        ...orderViewProjection,
        async apply(db, events) {
          await orderViewProjection.apply(db, events);
          await db.query('UPDATE order_view SET applied_events = applied_events + 1 WHERE order_id = ANY($1::uuid[])', [
            events.map((event) => event.streamId),
          ]);
        },
      };
      const order = testStream();
      await assert.rejects(
        ProjectionSpecification.for(counting, { database })
          .given(order.next(placed()))
          .when(order.next(confirmed))
          .then('order_view', [{ order_id: order.id, status: 'CONFIRMED' }]),
        /applying the same events again changed order_view/,
      );
    });
  });

  describe('reading ahead (prefetch)', () => {
    it('applies the streams read ahead and those the batch did not name alike', async () => {
      const [ahead, missed] = [testStream(), testStream()];
      await spec
        .given(ahead.next(placed()))
        .when(ahead.next(confirmed))
        .then('order_view', [{ order_id: ahead.id, status: 'CONFIRMED' }]);
      await database.transaction(async (db) => {
        await liveGeneration(orderViewProjection.name).enter(db);
        // A key in another spelling, and one that is no uuid: the read must not fail the transaction.
        const prefetched = orderViewProjection.prefetch?.(db, [ahead.id.toUpperCase(), 'not-a-uuid']);
        assert.ok(prefetched, 'the order view reads ahead');
        await orderViewProjection.apply(db, [ahead.next(shipped), missed.next(placed())], prefetched);
      });
      const rows: unknown[] = await database.query(
        'SELECT order_id, status, version FROM order_view WHERE order_id = ANY($1::uuid[]) ORDER BY version DESC',
        [[ahead.id, missed.id]],
      );
      assert.deepEqual(rows, [
        { order_id: ahead.id, status: 'SHIPPED', version: 3 },
        { order_id: missed.id, status: 'PLACED', version: 1 },
      ]);
    });
  });
});
