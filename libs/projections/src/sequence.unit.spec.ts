import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EventContract, ORDER_EVENTS, encodeEnvelope, type EventEnvelope } from '@app/messaging';
import { ORDER_EVENT_TYPES } from '@app/orders-domain';

import { BEHIND_PARKED, sequenceRecords, type Discard, type SequenceInput, type SourcedRecord } from './sequence.js';

/** Every type of the domain, any data: these cases are about sequencing, not shapes (those come last). */
const ANY_DATA = new EventContract(
  'any data',
  Object.fromEntries(ORDER_EVENT_TYPES.map((type) => [type, { schemas: [{ type: 'object' }], upcasters: [] }])),
);

let offset = 0;
function record(envelope: EventEnvelope): SourcedRecord {
  const encoded = encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c' });
  return {
    topic: 't',
    partition: 0,
    offset: String(offset++),
    key: Buffer.from(encoded.key),
    value: Buffer.from(encoded.value),
    headers: encoded.headers,
  };
}
function event(
  streamId: string,
  version: number,
  type = version === 1 ? 'OrderPlaced' : 'OrderConfirmed',
): EventEnvelope {
  return {
    eventId: `${streamId}-${version}`,
    type,
    schemaVersion: 1,
    streamId,
    version,
    occurredAt: '2026-11-24T10:00:00.000Z',
    data: {},
  };
}
function input(overrides: Partial<SequenceInput> = {}): SequenceInput {
  return {
    versions: new Map(),
    parkedStreams: new Set(),
    contract: ANY_DATA,
    handles: new Set(['OrderPlaced']),
    ...overrides,
  };
}

describe('sequenceRecords', () => {
  it('passes events that are next in their stream, marking the types the projection reads', () => {
    const result = sequenceRecords([record(event('a', 1)), record(event('a', 2)), record(event('b', 1))], input());
    assert.deepEqual(
      result.next.map((e) => [e.envelope.streamId, e.envelope.version, e.handled]),
      [
        ['a', 1, true],
        ['a', 2, false],
        ['b', 1, true],
      ],
    );
    assert.equal(result.parked.length, 0);
  });

  it('counts events at or below the applied version as duplicates and does nothing with them', () => {
    const result = sequenceRecords(
      [record(event('a', 1)), record(event('a', 2)), record(event('a', 3))],
      input({ versions: new Map([['a', 2]]) }),
    );
    assert.equal(result.duplicates, 2);
    assert.deepEqual(
      result.next.map((e) => e.envelope.version),
      [3],
    );
  });

  it('dead-letters an undecodable record and parks the later events of its stream behind it', () => {
    const poison: SourcedRecord = {
      topic: 't',
      partition: 0,
      offset: String(offset++),
      key: Buffer.from('a'),
      value: Buffer.from('{oops'),
      headers: {},
    };
    const result = sequenceRecords(
      [record(event('a', 1)), poison, record(event('a', 2)), record(event('b', 1))],
      input(),
    );
    assert.deepEqual(
      result.next.map((e) => `${e.envelope.streamId}@${e.envelope.version}`),
      ['a@1', 'b@1'],
    );
    assert.deepEqual(
      result.parked.map((p) => [p.streamId, p.deadLetter, p.reason.split(':')[0]]),
      [
        ['a', true, 'undecodable'],
        ['a', false, BEHIND_PARKED],
      ],
    );
  });

  it('dead-letters an unknown event type and a version that skips ahead', () => {
    const result = sequenceRecords([record(event('a', 1, 'OrderTeleported')), record(event('b', 2))], input());
    assert.equal(result.next.length, 0);
    assert.match(result.parked[0]?.reason ?? '', /unknown event type OrderTeleported/);
    assert.match(result.parked[1]?.reason ?? '', /sequence gap: expected version 1, got 2/);
    assert.ok(result.parked.every((p) => p.deadLetter));
  });

  it('parks every event of a stream that already has parked events', () => {
    const result = sequenceRecords(
      [record(event('a', 3))],
      input({ versions: new Map([['a', 2]]), parkedStreams: new Set(['a']) }),
    );
    assert.deepEqual(
      result.parked.map((p) => [p.streamId, p.reason, p.deadLetter]),
      [['a', BEHIND_PARKED, false]],
    );
  });

  it('dead-letters a record without a key and parks nothing behind it', () => {
    const result = sequenceRecords(
      [{ topic: 't', partition: 0, offset: '9', key: null, value: null, headers: {} }, record(event('a', 1))],
      input(),
    );
    assert.deepEqual(
      result.parked.map((p) => [p.streamId, p.deadLetter]),
      [[null, true]],
    );
    assert.deepEqual(
      result.next.map((e) => e.envelope.streamId),
      ['a'],
    );
  });

  it('dead-letters a record whose key or headers Postgres cannot store, keyed to no stream when the key is the problem', () => {
    const good = record(event('a', 1));
    const nulKey: SourcedRecord = { ...record(event('b', 1)), key: Buffer.from('b\0') };
    const nulHeader: SourcedRecord = { ...record(event('c', 1)), headers: { 'event-type': 'Order\0Placed' } };
    const unreadableHeader: SourcedRecord = { ...record(event('d', 1)), unreadableHeaders: ['trace'] };
    const result = sequenceRecords([nulKey, nulHeader, unreadableHeader, good], input());
    assert.deepEqual(
      result.parked.map((p) => [p.streamId, p.deadLetter]),
      [
        [null, true],
        ['c', true],
        ['d', true],
      ],
    );
    assert.match(result.parked[1]?.reason ?? '', /header "event-type" is not text Postgres can store/);
    assert.deepEqual(
      result.next.map((e) => e.envelope.streamId),
      ['a'],
    );
  });

  describe('when an operator discarded a record (ADR 6)', () => {
    const discardOf = (discarded: SourcedRecord, version: number | null, eventId: string | null = null): Discard => ({
      streamId: discarded.key?.toString('utf8') ?? null,
      version,
      eventId,
      topic: discarded.topic,
      partition: discarded.partition,
      offset: discarded.offset,
    });

    it('skips the discarded record itself, and the same event sent again at another offset', () => {
      const poison = record(event('a', 2));
      const resent = record(event('a', 2));
      const result = sequenceRecords(
        [poison, resent],
        input({ versions: new Map([['a', 1]]), discards: [discardOf(poison, 2, 'a-2')] }),
      );
      assert.equal(result.discarded, 2);
      assert.equal(result.next.length + result.parked.length, 0);
    });

    it('lets the stream step over the discarded version when nothing fills it', () => {
      const poison = record(event('a', 2));
      const result = sequenceRecords(
        [record(event('a', 3)), record(event('a', 4))],
        input({ versions: new Map([['a', 1]]), discards: [discardOf(poison, 2)] }),
      );
      assert.deepEqual(
        result.next.map((e) => e.envelope.version),
        [3, 4],
      );
    });

    it('still applies a real event of the version a discarded impostor claimed', () => {
      const impostor = record(event('a', 2, 'OrderTeleported'));
      const real = record(event('a', 2));
      const result = sequenceRecords(
        [impostor, real, record(event('a', 3))],
        input({ versions: new Map([['a', 1]]), discards: [discardOf(impostor, 2, 'impostor')] }),
      );
      assert.deepEqual(
        result.next.map((e) => [e.record.offset, e.envelope.version]),
        [
          [real.offset, 2],
          [result.next[1]?.record.offset, 3],
        ],
      );
      assert.equal(result.discarded, 1);
    });

    it('still parks a version past the discarded one that skips another', () => {
      const poison = record(event('a', 2));
      const result = sequenceRecords(
        [record(event('a', 4))],
        input({ versions: new Map([['a', 1]]), discards: [discardOf(poison, 2)] }),
      );
      assert.match(result.parked[0]?.reason ?? '', /sequence gap: expected version 3, got 4/);
    });
  });

  describe('through the event contract', () => {
    const placedV1 = { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }] };
    const placed = (streamId: string, schemaVersion: number, data: object): EventEnvelope => ({
      ...event(streamId, 1),
      schemaVersion,
      data,
    });
    const orders = (overrides: Partial<SequenceInput> = {}) => input({ contract: ORDER_EVENTS, ...overrides });

    it('hands on an old version upcast to the current one', () => {
      const result = sequenceRecords([record(placed('a', 1, placedV1))], orders());
      assert.deepEqual(result.parked, []);
      assert.equal(result.next[0]?.envelope.schemaVersion, 2);
      assert.deepEqual(result.next[0].envelope.data, { ...placedV1, channel: 'web' });
    });

    it('hands on the current version as it is', () => {
      const result = sequenceRecords([record(placed('a', 2, { ...placedV1, channel: 'phone' }))], orders());
      assert.deepEqual(result.next[0]?.envelope.data, { ...placedV1, channel: 'phone' });
    });

    it('parks a version newer than it knows, and the stream behind it', () => {
      const result = sequenceRecords(
        [record(placed('a', 3, { ...placedV1, channel: 'web', loyaltyId: 'x' })), record(event('a', 2))],
        orders(),
      );
      assert.deepEqual(result.next, []);
      assert.match(result.parked[0]?.reason ?? '', /OrderPlaced v3 is newer than this reader knows \(v2\)/);
      assert.equal(result.parked[0]?.deadLetter, true);
      assert.equal(result.parked[1]?.reason, BEHIND_PARKED);
    });

    it('parks data that breaks its version, naming the field', () => {
      const wrongChannel = record(placed('a', 2, { ...placedV1, channel: 'carrier-pigeon' }));
      const noLines = record(placed('b', 1, { customerId: 'c-1', currency: 'EUR' }));
      const result = sequenceRecords([wrongChannel, noLines], orders());
      assert.deepEqual(result.next, []);
      assert.match(
        result.parked[0]?.reason ?? '',
        /OrderPlaced v2 \/channel must be equal to one of the allowed values/,
      );
      assert.match(result.parked[1]?.reason ?? '', /OrderPlaced v1 \/ must have required property 'lines'/);
    });

    it('counts a broken copy of an applied version as a duplicate, parking nothing', () => {
      const result = sequenceRecords(
        [record(placed('a', 1, { broken: true }))],
        orders({ versions: new Map([['a', 1]]) }),
      );
      assert.deepEqual(result.parked, []);
      assert.equal(result.duplicates, 1);
    });
  });
});
