import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { encodeEnvelope, type EventEnvelope } from '@app/messaging';
import { ORDER_EVENT_TYPES } from '@app/orders-domain';

import { BEHIND_PARKED, sequenceRecords, type SequenceInput, type SourcedRecord } from './sequence.js';

let offset = 0;
function record(envelope: EventEnvelope): SourcedRecord {
  const encoded = encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c' });
  return { topic: 't', partition: 0, offset: String(offset++), key: Buffer.from(encoded.key), value: Buffer.from(encoded.value), headers: encoded.headers };
}
function event(orderId: string, version: number, type = version === 1 ? 'OrderPlaced' : 'OrderConfirmed'): EventEnvelope {
  return { eventId: `${orderId}-${version}`, type, schemaVersion: 1, orderId, version, occurredAt: '2026-11-24T10:00:00.000Z', data: {} };
}
function input(overrides: Partial<SequenceInput> = {}): SequenceInput {
  return { versions: new Map(), parkedOrders: new Set(), knownTypes: new Set(ORDER_EVENT_TYPES), handles: new Set(['OrderPlaced']), ...overrides };
}

describe('sequenceRecords', () => {
  it('passes events that are next in their order, marking the types the projection reads', () => {
    const result = sequenceRecords([record(event('a', 1)), record(event('a', 2)), record(event('b', 1))], input());
    assert.deepEqual(result.next.map((e) => [e.envelope.orderId, e.envelope.version, e.handled]), [
      ['a', 1, true],
      ['a', 2, false],
      ['b', 1, true],
    ]);
    assert.equal(result.parked.length, 0);
  });

  it('counts events at or below the applied version as duplicates and does nothing with them', () => {
    const result = sequenceRecords([record(event('a', 1)), record(event('a', 2)), record(event('a', 3))], input({ versions: new Map([['a', 2]]) }));
    assert.equal(result.duplicates, 2);
    assert.deepEqual(result.next.map((e) => e.envelope.version), [3]);
  });

  it('dead-letters an undecodable record and parks the later events of its order behind it', () => {
    const poison: SourcedRecord = { topic: 't', partition: 0, offset: String(offset++), key: Buffer.from('a'), value: Buffer.from('{oops'), headers: {} };
    const result = sequenceRecords([record(event('a', 1)), poison, record(event('a', 2)), record(event('b', 1))], input());
    assert.deepEqual(result.next.map((e) => `${e.envelope.orderId}@${e.envelope.version}`), ['a@1', 'b@1']);
    assert.deepEqual(result.parked.map((p) => [p.orderId, p.deadLetter, p.reason.split(':')[0]]), [
      ['a', true, 'undecodable'],
      ['a', false, BEHIND_PARKED],
    ]);
  });

  it('dead-letters an unknown event type and a version that skips ahead', () => {
    const result = sequenceRecords([record(event('a', 1, 'OrderTeleported')), record(event('b', 2))], input());
    assert.equal(result.next.length, 0);
    assert.match(result.parked[0]?.reason ?? '', /unknown event type OrderTeleported/);
    assert.match(result.parked[1]?.reason ?? '', /sequence gap: expected version 1, got 2/);
    assert.ok(result.parked.every((p) => p.deadLetter));
  });

  it('parks every event of an order that already has parked events', () => {
    const result = sequenceRecords([record(event('a', 3))], input({ versions: new Map([['a', 2]]), parkedOrders: new Set(['a']) }));
    assert.deepEqual(result.parked.map((p) => [p.orderId, p.reason, p.deadLetter]), [['a', BEHIND_PARKED, false]]);
  });

  it('dead-letters a record without a key and parks nothing behind it', () => {
    const result = sequenceRecords([{ topic: 't', partition: 0, offset: '9', key: null, value: null, headers: {} }, record(event('a', 1))], input());
    assert.deepEqual(result.parked.map((p) => [p.orderId, p.deadLetter]), [[null, true]]);
    assert.deepEqual(result.next.map((e) => e.envelope.orderId), ['a']);
  });
});
