import { encodeEnvelope, type DomainEvent, type EncodedEvent, type EventTrace } from '@app/messaging';

/** The part of an event store's NewEvent a record is made of (declared here: the store imports this). */
interface CapturedEvent {
  readonly eventId: string;
  readonly schemaVersion: number;
  readonly event: DomainEvent;
  readonly occurredAt: Date;
}

/**
 * The record change data capture publishes for an event (`OUTBOX_RELAY=debezium`): byte for byte the
 * one the in-process relay would publish from the stored row. The relay encodes what Postgres gives
 * back, so this encodes the same thing as Postgres would give it back:
 *
 * - ids as `uuid` columns print them: lower case, hyphenated;
 * - `data` as `jsonb` returns it: object keys shortest first, then by their UTF-8 bytes; a key that
 *   appears twice keeps its last value (JSON.stringify has already dropped undefined and applied toJSON).
 *
 * Numbers and strings survive the trip unchanged: JSON.stringify writes the shortest form that reads
 * back as the same double, and the relay's JSON.parse reads Postgres' digits back to that double.
 */
export function captureRecord(
  streamId: string,
  version: number,
  event: CapturedEvent,
  metadata: EventTrace,
): EncodedEvent {
  return encodeEnvelope(
    {
      eventId: canonicalUuid(event.eventId),
      type: event.event.type,
      schemaVersion: event.schemaVersion,
      streamId: canonicalUuid(streamId),
      version,
      occurredAt: event.occurredAt.toISOString(),
      data: inJsonbOrder(JSON.parse(JSON.stringify(event.event.data))),
    },
    metadata,
  );
}

/** A uuid as Postgres prints one; anything else unchanged (Postgres refuses it on insert). */
export function canonicalUuid(id: string): string {
  const hex = id
    .replace(/^\{|\}$/g, '')
    .replaceAll('-', '')
    .toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return id;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A parsed JSON value with every object's keys in jsonb's order. */
export function inJsonbOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inJsonbOrder);
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value).map((key) => ({ key, bytes: Buffer.from(key) }));
  keys.sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes));
  // Without a prototype, a "__proto__" key is a key like any other, as JSON.parse makes it.
  const ordered = Object.create(null) as Record<string, unknown>;
  for (const { key } of keys) ordered[key] = inJsonbOrder((value as Record<string, unknown>)[key]);
  return ordered;
}
