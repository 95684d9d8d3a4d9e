import { encodeEnvelope, type ConsumedRecord, type EventEnvelope } from '@app/messaging';

/**
 * One order's life for the OrderPlaced v1 → v2 evolution tests: placed (its OrderPlaced written
 * with schema version 1, without `channel`, or 2, with `channel: 'web'`, which is what v1 upcasts
 * to), a line added, confirmed, then cancelled or shipped. `index` varies customer, currency, sku,
 * amounts and times, so every projection gets rows to compare.
 */
export function evolvingLifecycle(orderId: string, index: number, placedVersion: 1 | 2): EventEnvelope[] {
  const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, index * 7 + minute)).toISOString();
  const placed = {
    customerId: `customer-${String(index % 3)}`,
    currency: index % 2 === 0 ? 'EUR' : 'USD',
    lines: [{ sku: `SKU-${String(index % 4)}`, quantity: 1 + (index % 3), unitPriceMinor: 100 * (index + 1) }],
    ...(placedVersion === 2 ? { channel: 'web' } : {}),
  };
  const events: [string, object][] = [
    ['OrderPlaced', placed],
    ['OrderLineAdded', { line: { sku: 'SKU-X', quantity: 2, unitPriceMinor: 250 } }],
    ['OrderConfirmed', { paymentReference: `pay-${String(index)}` }],
    index % 3 === 0
      ? ['OrderCancelled', { reason: 'changed my mind' }]
      : ['OrderShipped', { carrier: 'DHL', trackingNumber: 'T' }],
  ];
  return events.map(([type, data], position) => ({
    eventId: `${orderId.slice(0, 24)}${String(index * 10 + position).padStart(12, '0')}`,
    type,
    schemaVersion: type === 'OrderPlaced' ? placedVersion : 1,
    streamId: orderId,
    version: position + 1,
    occurredAt: at(position),
    data,
  }));
}

/** A log as a consumer reads it from partition 0 of `orders.events`: each envelope encoded, at offsets from 0. */
export function consumedRecordsOf(log: readonly EventEnvelope[]): ConsumedRecord[] {
  return log.map((envelope, offset) => {
    const encoded = encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c' });
    return {
      topic: 'orders.events',
      partition: 0,
      offset: String(offset),
      key: Buffer.from(encoded.key),
      value: Buffer.from(encoded.value),
      headers: encoded.headers,
    };
  });
}
