import { randomUUID } from 'node:crypto';

import {
  EventPublisher,
  encodeEnvelope,
  type EncodedEvent,
  type EventEnvelope,
  type KafkaConnection,
  type TopicSpec,
} from '@app/messaging';

/**
 * A synthetic log of order lifecycles, as the event store would have relayed it: each order is
 * placed with two lines, gains a third, is confirmed and shipped. Four events per order, keyed by
 * order id, in version order. For measuring replays without relaying a million events first.
 */
export function syntheticLifecycle(orderId: string, index: number): EncodedEvent[] {
  return syntheticEnvelopes(orderId, index).map(encoded);
}

function encoded(event: EventEnvelope): EncodedEvent {
  return encodeEnvelope(event, { correlationId: 'synthetic-log', causationId: 'synthetic-log' });
}

/** The four events of a lifecycle, not yet encoded. */
function syntheticEnvelopes(orderId: string, index: number): EventEnvelope[] {
  const at = new Date(Date.UTC(2026, 0, 1) + index * 1_000).toISOString();
  const envelope = (version: number, type: EventEnvelope['type'], data: unknown): EventEnvelope => ({
    eventId: randomUUID(),
    type,
    schemaVersion: 1,
    streamId: orderId,
    version,
    occurredAt: at,
    data,
  });
  const line = (sku: string) => ({ sku, quantity: 1 + (index % 4), unitPriceMinor: 100 + (index % 5_000) });
  return [
    envelope(1, 'OrderPlaced', {
      customerId: `customer-${String(index % 10_000)}`,
      currency: ['EUR', 'USD', 'GBP'][index % 3],
      lines: [line('SKU-A'), line('SKU-B')],
    }),
    envelope(2, 'OrderLineAdded', { line: line('SKU-C') }),
    envelope(3, 'OrderConfirmed', { paymentReference: `pay-${String(index)}` }),
    envelope(4, 'OrderShipped', { carrier: 'DHL', trackingNumber: `T-${String(index)}` }),
  ];
}

/** Records sent to the broker at a time. */
const PUBLISH_EVERY = 10_000;

/**
 * Writes `events` (rounded down to whole lifecycles) to `topic`; returns how many it wrote. With
 * `spread` above 1, that many orders' lifecycles are interleaved (each one's first event, then each
 * one's second, and so on), so an order's events lie about `spread` records apart, as in a log whose
 * orders live for a while; by default each order's four events are adjacent. Memory stays bounded
 * by `PUBLISH_EVERY` records (and `spread` order ids) whatever the spread.
 */
export async function writeSyntheticLog(
  kafka: KafkaConnection,
  topic: TopicSpec,
  events: number,
  { onProgress = () => undefined, spread = 1 }: { onProgress?: (written: number) => void; spread?: number } = {},
): Promise<number> {
  const publisher = new EventPublisher(kafka, topic);
  const orders = Math.floor(events / 4);
  let records: EncodedEvent[] = [];
  let written = 0;
  const flush = async (): Promise<void> => {
    if (records.length === 0) return;
    await publisher.publish(records);
    written += records.length;
    records = [];
    onProgress(written);
  };
  try {
    for (let first = 0; first < orders; first += spread) {
      const ids = Array.from({ length: Math.min(spread, orders - first) }, () => randomUUID());
      // Adjacent, each lifecycle at once; interleaved, a step of every order in turn.
      for (let step = 0; step < (spread === 1 ? 1 : 4); step++) {
        for (const [offset, id] of ids.entries()) {
          const envelopes = syntheticEnvelopes(id, first + offset);
          records.push(...(spread === 1 ? envelopes : envelopes.slice(step, step + 1)).map(encoded));
          if (records.length >= PUBLISH_EVERY) await flush();
        }
      }
    }
    await flush();
  } finally {
    await publisher.close();
  }
  return written;
}
