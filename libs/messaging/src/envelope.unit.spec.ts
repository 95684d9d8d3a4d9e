import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  EnvelopeDecodeError,
  MAX_KEY_BYTES,
  decodeEnvelope,
  encodeEnvelope,
  storableKey,
  type EventEnvelope,
} from './envelope.js';

const envelope: EventEnvelope = {
  eventId: '5f0c6e0e-8f61-4a3c-9d8e-0d5a3f6c1b2a',
  type: 'OrderPlaced',
  schemaVersion: 1,
  streamId: '0b8f5c1e-1d2b-4a8e-9b61-7c0f5a2d3e4f',
  version: 1,
  occurredAt: '2026-11-24T10:00:00.000Z',
  data: { customerId: 'c-1', currency: 'EUR', lines: [] },
};

/** The same event as the published contract writes it: the stream id is the order id, named so. */
const { streamId, ...fields } = envelope;
const onTheWire = {
  eventId: fields.eventId,
  type: fields.type,
  schemaVersion: fields.schemaVersion,
  orderId: streamId,
  version: fields.version,
  occurredAt: fields.occurredAt,
  data: fields.data,
};

describe('event envelope', () => {
  it('is keyed by stream id and carries the contract headers and JSON', () => {
    const record = encodeEnvelope(envelope, {
      correlationId: 'corr-1',
      causationId: 'cause-1',
      traceparent: undefined,
    });
    assert.equal(record.key, envelope.streamId);
    assert.deepEqual(record.headers, {
      'event-type': 'OrderPlaced',
      'schema-version': '1',
      'event-id': envelope.eventId,
      'correlation-id': 'corr-1',
      'causation-id': 'cause-1',
    });
    assert.equal(record.value, JSON.stringify(onTheWire)); // field order included
  });

  it('round-trips through encode and decode', () => {
    const record = encodeEnvelope(envelope, {
      correlationId: 'c',
      causationId: 'c',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.equal(record.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.deepEqual(decodeEnvelope(Buffer.from(record.value), Buffer.from(record.key)), envelope);
  });

  it('rejects what is not a well-formed envelope', () => {
    const bad: [Buffer | null, string][] = [
      [null, 'no value'],
      [Buffer.from('{not json'), 'not JSON'],
      [Buffer.from('[]'), 'invalid'],
      [Buffer.from(JSON.stringify({ ...onTheWire, version: 0 })), 'version'],
      [Buffer.from(JSON.stringify({ ...onTheWire, version: 2_147_483_648 })), 'version'], // past Postgres integer, where versions are stored
      [Buffer.from(JSON.stringify({ ...onTheWire, occurredAt: 'yesterday' })), 'occurredAt'],
    ];
    for (const [value, message] of bad) {
      assert.throws(
        () => decodeEnvelope(value, Buffer.from(envelope.streamId)),
        (error: unknown) => error instanceof EnvelopeDecodeError && error.message.includes(message),
      );
    }
  });

  it('rejects a record whose key is not its order id, or that has no key', () => {
    assert.throws(
      () => decodeEnvelope(Buffer.from(JSON.stringify(onTheWire)), Buffer.from('another-order')),
      EnvelopeDecodeError,
    );
    assert.throws(() => decodeEnvelope(Buffer.from(JSON.stringify(onTheWire)), null), /no key/);
  });

  describe('when a record holds text Postgres cannot store', () => {
    const key = Buffer.from(envelope.streamId);
    const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

    it('rejects a value that is not valid UTF-8, instead of decoding it lossily', () => {
      const value = Buffer.concat([
        json(onTheWire).subarray(0, 20),
        Buffer.from([0xc3, 0x28]),
        json(onTheWire).subarray(20),
      ]);
      assert.throws(() => decodeEnvelope(value, key), /not valid UTF-8/);
    });

    it('rejects \\u0000 and lone surrogates anywhere in the envelope, keys and nested data included', () => {
      const bad = [
        { ...onTheWire, type: 'Order\u0000Placed' },
        { ...onTheWire, data: { lines: [{ sku: 'A\u0000' }] } },
        { ...onTheWire, data: { ['na\u0000me']: 1 } },
        { ...onTheWire, data: { reason: '\ud800' } },
      ];
      for (const value of bad) assert.throws(() => decodeEnvelope(json(value), key), /cannot store/);
    });

    it('rejects a key with a NUL byte, invalid UTF-8 or more bytes than an order id may have', () => {
      for (const bad of [Buffer.from('ab\0c'), Buffer.from([0xff, 0xfe]), Buffer.alloc(MAX_KEY_BYTES + 1, 'a')]) {
        assert.equal(storableKey(bad), null);
        assert.throws(() => decodeEnvelope(json(onTheWire), bad), /key is not a stream id Postgres can store/);
      }
      assert.equal(storableKey(key), envelope.streamId);
    });

    it('survives nesting deeper than the call stack', () => {
      const deep = `{"eventId":"e","type":"T","schemaVersion":1,"orderId":"${envelope.streamId}","version":1,"occurredAt":"2026-11-24T10:00:00.000Z","data":${'['.repeat(100_000)}"\\u0000"${']'.repeat(100_000)}}`;
      assert.throws(() => decodeEnvelope(Buffer.from(deep), key), EnvelopeDecodeError);
    });
  });
});
