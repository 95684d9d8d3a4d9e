/** The event as it travels on Kafka. Part of the contract outside tools rely on: change it only additively. */
export interface EventEnvelope {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly orderId: string;
  readonly version: number;
  readonly occurredAt: string;
  readonly data: unknown;
}

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

/** An event as this application encodes it: keyed by order id, the envelope as JSON. */
export interface EncodedEvent extends OutgoingRecord {
  readonly key: string;
  readonly value: string;
}

/** Kafka never gets a record larger than this; the broker's default limit is about 1 MB. */
export const MAX_RECORD_BYTES = 1_000_000;

/** Bytes a record takes on the wire, near enough to keep produce requests under the broker's limit. */
export function recordSize(record: OutgoingRecord): number {
  let size = Buffer.byteLength(record.key ?? '') + Buffer.byteLength(record.value ?? '');
  for (const [name, value] of Object.entries(record.headers)) size += Buffer.byteLength(name) + Buffer.byteLength(value);
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
  return { key: envelope.orderId, value: JSON.stringify(envelope), headers };
}

export class EnvelopeDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeDecodeError';
  }
}

/** Parses and checks a record's value. Anything that is not a well-formed envelope is an error, never a guess. */
export function decodeEnvelope(value: Buffer | null, key: Buffer | null): EventEnvelope {
  if (value === null) throw new EnvelopeDecodeError('record has no value');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    throw new EnvelopeDecodeError('record value is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new EnvelopeDecodeError('envelope is not an object');
  const envelope = parsed as Record<string, unknown>;
  const problems = [
    isNonEmptyString(envelope.eventId) ? null : 'eventId',
    isNonEmptyString(envelope.type) ? null : 'type',
    isPositiveInteger(envelope.schemaVersion) ? null : 'schemaVersion',
    isNonEmptyString(envelope.orderId) ? null : 'orderId',
    isPositiveInteger(envelope.version) ? null : 'version',
    isNonEmptyString(envelope.occurredAt) && !Number.isNaN(Date.parse(envelope.occurredAt)) ? null : 'occurredAt',
    typeof envelope.data === 'object' && envelope.data !== null ? null : 'data',
  ].filter((problem) => problem !== null);
  if (problems.length > 0) throw new EnvelopeDecodeError(`envelope has invalid ${problems.join(', ')}`);
  // The key decides the partition, hence the order of the order's events: a record without the
  // order id as its key is not one of ours.
  if (key?.toString('utf8') !== envelope.orderId) {
    throw new EnvelopeDecodeError(key === null ? 'record has no key' : 'record key is not the envelope orderId');
  }
  return envelope as unknown as EventEnvelope;
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function isPositiveInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
