import { Type, type Static } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv/dist/2020.js';

import { describeErrors, jsonSchemaValidator } from './contracts/json-schema.js';

/** What happened, as a stream holds it: a type and plain JSON data. Domains narrow it to their unions. */
export interface DomainEvent {
  readonly type: string;
  readonly data: unknown;
}

/**
 * An event with its place in its stream, as consumers see it. `EventEnvelope<OrderEvent>` narrows
 * `data` by `type`. On the wire (`encodeEnvelope`) it is the JSON of the published contract, where the
 * stream id is named after the domain (`STREAM_ID_FIELD`); change that JSON only additively.
 */
export type EventEnvelope<E extends DomainEvent = DomainEvent> = E &
  Readonly<{
    eventId: string;
    schemaVersion: number;
    streamId: string;
    version: number;
    occurredAt: string;
  }>;

/**
 * The envelope's stream id field on the wire. The contract outside tools rely on names it after the
 * orders domain; a team carrying this template to another domain changes this one constant.
 */
export const STREAM_ID_FIELD = 'orderId';

export interface EventTrace {
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string | undefined;
}

export interface OutgoingRecord {
  readonly key: string | Buffer | null;
  /** A string for events we encode; a Buffer when forwarding a record as it was (dead letters). */
  readonly value: string | Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** An event as this application encodes it: keyed by stream id, the envelope as JSON. */
export interface EncodedEvent extends OutgoingRecord {
  readonly key: string;
  readonly value: string;
}

/** Kafka never gets a record larger than this; the broker's default limit is about 1 MB. */
export const MAX_RECORD_BYTES = 1_000_000;

/** Bytes a record takes on the wire, near enough to keep produce requests under the broker's limit. */
export function recordSize(record: OutgoingRecord): number {
  let size = Buffer.byteLength(record.key ?? '') + Buffer.byteLength(record.value ?? '');
  for (const [name, value] of Object.entries(record.headers))
    size += Buffer.byteLength(name) + Buffer.byteLength(value);
  return size + 64;
}

export class RecordTooLarge extends Error {
  constructor(readonly size: number) {
    super(`a record of ${size} bytes exceeds the ${MAX_RECORD_BYTES}-byte limit`);
    this.name = 'RecordTooLarge';
  }
}

export function encodeEnvelope(envelope: EventEnvelope, trace: EventTrace): EncodedEvent {
  const headers: Record<string, string> = {
    'event-type': envelope.type,
    'schema-version': String(envelope.schemaVersion),
    'event-id': envelope.eventId,
    'correlation-id': trace.correlationId,
    'causation-id': trace.causationId,
  };
  if (trace.traceparent) headers.traceparent = trace.traceparent;
  // Field by field, in the contract's order, so the wire never carries more than the contract.
  const wire = {
    eventId: envelope.eventId,
    type: envelope.type,
    schemaVersion: envelope.schemaVersion,
    [STREAM_ID_FIELD]: envelope.streamId,
    version: envelope.version,
    occurredAt: envelope.occurredAt,
    data: envelope.data,
  };
  return { key: envelope.streamId, value: JSON.stringify(wire), headers };
}

export class EnvelopeDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeDecodeError';
  }
}

/** Highest version an event may carry: versions are stored as Postgres `integer`. */
export const MAX_VERSION = 2_147_483_647;

/** Longest record key read as a stream id: keys are stored and indexed, and a btree row holds about 2.7 kB. */
export const MAX_KEY_BYTES = 256;

/**
 * The envelope every event travels in, on the topic and in the outbox: the published contract's outer
 * shape (docs/contracts/envelope.schema.json, generated from this). `data` is the event type's own
 * schema at `schemaVersion` (an EventContract checks it). Change it only additively: outside tools rely
 * on every field.
 */
export const ENVELOPE_SCHEMA = Type.Object(
  {
    eventId: Type.String({ minLength: 1, description: 'stable id of the event: a duplicate carries the same one' }),
    type: Type.String({ minLength: 1, description: 'the event type, past tense' }),
    schemaVersion: Type.Integer({ minimum: 1, description: "version of the type's data schema" }),
    [STREAM_ID_FIELD]: Type.String({ minLength: 1, description: 'the stream it belongs to, also the record key' }),
    version: Type.Integer({ minimum: 1, maximum: MAX_VERSION, description: "the event's position in its stream" }),
    occurredAt: Type.String({ format: 'date-time' }),
    data: Type.Object({}, { description: "the event type's data at schemaVersion" }),
  },
  { title: 'EventEnvelope' },
);

type WireEnvelope = Static<typeof ENVELOPE_SCHEMA>;

const matchesEnvelope: ValidateFunction<WireEnvelope> = jsonSchemaValidator().compile(ENVELOPE_SCHEMA);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether Postgres can store the string as `text` or inside `jsonb`: no NUL character, no lone UTF-16 surrogate. */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\0');
}

/** The bytes as UTF-8 text, or undefined when they are not valid UTF-8 (never a lossy guess). */
export function utf8Text(bytes: Buffer): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The record key as a stream id Postgres can store, or null: no key, not UTF-8, a NUL, or too long. */
export function storableKey(key: Buffer | null): string | null {
  if (key === null || key.length === 0 || key.length > MAX_KEY_BYTES) return null;
  const text = utf8Text(key);
  return text !== undefined && isStorableText(text) ? text : null;
}

/**
 * Parses and checks a record's value. Anything that is not a well-formed envelope is an error, never a
 * guess, and so is text Postgres would refuse: a record from another producer must fail here, as
 * poison, rather than in SQL, where it would roll back the whole batch.
 */
export function decodeEnvelope(value: Buffer | null, key: Buffer | null): EventEnvelope {
  if (value === null) throw new EnvelopeDecodeError('record has no value');
  const text = utf8Text(value);
  if (text === undefined) throw new EnvelopeDecodeError('record value is not valid UTF-8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EnvelopeDecodeError('record value is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new EnvelopeDecodeError('envelope is not an object');
  if (Array.isArray(parsed)) throw new EnvelopeDecodeError('envelope is invalid: a JSON array, not an object');
  // Every record of a replay passes here: the compiled validator allocates nothing unless a check fails.
  if (!matchesEnvelope(parsed)) {
    const fields = new Set(
      (matchesEnvelope.errors ?? []).map((error) =>
        error.keyword === 'required' ? String(error.params.missingProperty) : error.instancePath.split('/')[1] || '/',
      ),
    );
    throw new EnvelopeDecodeError(
      `envelope has invalid ${[...fields].join(', ')} (${describeErrors(matchesEnvelope.errors)})`,
    );
  }
  const envelope = parsed;
  // Strict UTF-8 decoding never yields a lone surrogate, so the parsed values can hold one, or a NUL,
  // only through a `\u` escape or a raw NUL: without either the walk over every string is skipped.
  if ((text.includes('\\u') || text.includes('\0')) && !holdsOnlyStorableText(envelope))
    throw new EnvelopeDecodeError('envelope holds text Postgres cannot store (a NUL character or a lone surrogate)');
  // The key decides the partition, hence the order of the stream's events: a record without the
  // stream id as its key is not one of ours.
  if (key === null) throw new EnvelopeDecodeError('record has no key');
  const streamId = storableKey(key);
  if (streamId === null)
    throw new EnvelopeDecodeError(
      `record key is not a stream id Postgres can store (invalid UTF-8, a NUL byte, or over ${String(MAX_KEY_BYTES)} bytes)`,
    );
  if (streamId !== envelope[STREAM_ID_FIELD])
    throw new EnvelopeDecodeError(`record key is not the envelope ${STREAM_ID_FIELD}`);
  const { eventId, type, schemaVersion, version, occurredAt, data } = envelope;
  return { eventId, type, schemaVersion, streamId, version, occurredAt, data };
}

/** Every key and string value, however deep: iterative, so a deeply nested value cannot overflow the stack. */
function holdsOnlyStorableText(root: unknown): boolean {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (!isStorableText(value)) return false;
    } else if (typeof value === 'object' && value !== null) {
      for (const [name, inner] of Object.entries(value)) {
        if (!isStorableText(name)) return false;
        pending.push(inner);
      }
    }
  }
  return true;
}
