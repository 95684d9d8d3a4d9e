import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ORDER_EVENT_TYPES } from '@app/orders-domain';

import { EventContract, EventContractViolation } from './event-contract.js';
import { ORDER_EVENTS } from './order-events.contract.js';

const placedV1 = { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 2, unitPriceMinor: 150 }] };
const envelope = (schemaVersion: number, data: object) => ({
  eventId: 'e-1',
  type: 'OrderPlaced',
  schemaVersion,
  streamId: 'o-1',
  version: 1,
  occurredAt: '2026-01-01T00:00:00.000Z',
  data,
});

function violation(kind: EventContractViolation['kind'], message: RegExp) {
  return (error: unknown) =>
    error instanceof EventContractViolation && error.kind === kind && message.test(error.message);
}

describe('the orders event contract', () => {
  it('writes every type at its latest version', () => {
    assert.equal(ORDER_EVENTS.currentVersion('OrderPlaced'), 2);
    for (const type of ORDER_EVENT_TYPES.filter((type) => type !== 'OrderPlaced'))
      assert.equal(ORDER_EVENTS.currentVersion(type), 1, type);
  });

  it('upcasts OrderPlaced v1 to v2: placed through the web shop', () => {
    const read = ORDER_EVENTS.read(envelope(1, placedV1));
    assert.equal(read.schemaVersion, 2);
    assert.deepEqual(read.data, { ...placedV1, channel: 'web' });
    assert.equal(ORDER_EVENTS.problems('OrderPlaced', 2, read.data), undefined, 'the upcast data matches v2');
  });

  it('reads the current version as it is', () => {
    const data = { ...placedV1, channel: 'store' };
    assert.deepEqual(ORDER_EVENTS.read(envelope(2, data)), envelope(2, data));
  });

  it('keeps fields it does not know: a later optional field is not a reason to refuse', () => {
    const data = { ...placedV1, channel: 'phone', giftWrap: true };
    assert.deepEqual(ORDER_EVENTS.read(envelope(2, data)).data, data);
  });

  it('refuses a version newer than it knows, saying which', () => {
    assert.throws(
      () => ORDER_EVENTS.read(envelope(3, { ...placedV1, channel: 'web' })),
      violation('newer-than-known', /OrderPlaced v3 is newer than this reader knows \(v2\)/),
    );
  });

  it('refuses data that breaks its version, naming the field', () => {
    assert.throws(
      () => ORDER_EVENTS.read(envelope(2, { ...placedV1, channel: 'fax' })),
      violation('invalid', /OrderPlaced v2 \/channel must be equal to one of the allowed values/),
    );
    assert.throws(
      () => ORDER_EVENTS.read(envelope(1, { ...placedV1, lines: [{ sku: 'A', quantity: 1.5, unitPriceMinor: 1 }] })),
      violation('invalid', /OrderPlaced v1 \/lines\/0\/quantity must be integer/),
    );
  });

  it('refuses a type it does not know, and a version below 1', () => {
    assert.throws(
      () => ORDER_EVENTS.read({ ...envelope(1, {}), type: 'OrderTeleported' }),
      violation('unknown-type', /OrderTeleported is not an event type of orders/),
    );
    assert.throws(() => ORDER_EVENTS.read(envelope(0, placedV1)), violation('invalid', /no schema version 0/));
  });

  it('refuses what a faulty upcaster hands on, and an upcaster that throws, as unreadable rather than a crash', () => {
    const v1 = { type: 'object', required: ['a'], properties: { a: { type: 'string' } } };
    const v2 = { type: 'object', required: ['a', 'b'], properties: { a: { type: 'string' }, b: { type: 'integer' } } };
    const forgetful = new EventContract('test', { Thing: { schemas: [v1, v2], upcasters: [(data: never) => data] } });
    assert.throws(
      () => forgetful.upcast('Thing', 1, { a: 'x' }),
      violation('invalid', /upcast from v1 breaks the current schema: Thing v2 \/ must have required property 'b'/),
    );
    const throwing = new EventContract('test', {
      Thing: {
        schemas: [v1, v2],
        upcasters: [
          () => {
            throw new TypeError('boom');
          },
        ],
      },
    });
    assert.throws(
      () => throwing.upcast('Thing', 1, { a: 'x' }),
      violation('invalid', /upcasting Thing v1 to v2 failed: boom/),
    );
  });
});
