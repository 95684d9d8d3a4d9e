/**
 * Writes a synthetic log of order events straight to the orders topic, for measuring replays:
 * `npm run seed:log -- <events>` (default 200,000). Each order is placed, gains a line, is confirmed
 * and shipped: four events, keyed by order id, in version order.
 *
 * It bypasses the event store on purpose (the store would take minutes to relay a million events),
 * so it refuses the default topic: point ORDERS_TOPIC (and DATABASE_URL) at scratch ones.
 */
import { randomUUID } from 'node:crypto';

import { EventPublisher, KafkaConnection, encodeEnvelope, ensureTopics, orderEventsTopic, type EventEnvelope } from '@app/messaging';
import { loadConfigOrExit } from '@app/platform';

const config = loadConfigOrExit();
const events = Number(process.argv[2] ?? 200_000);
if (!Number.isInteger(events) || events < 4 || events > 100_000_000) {
  console.error(`seed-log: the number of events must be an integer from 4 to 100,000,000, not ${JSON.stringify(process.argv[2])}`);
  process.exit(2);
}
if (config.kafka.ordersTopic === 'orders.events') {
  console.error('seed-log writes straight to Kafka, bypassing the event store: set ORDERS_TOPIC (and DATABASE_URL) to scratch ones, not orders.events');
  process.exit(2);
}

function lifecycle(orderId: string, index: number): EventEnvelope[] {
  const at = new Date(Date.UTC(2026, 0, 1) + index * 1_000).toISOString();
  const envelope = (version: number, type: EventEnvelope['type'], data: unknown): EventEnvelope => ({ eventId: randomUUID(), type, schemaVersion: 1, orderId, version, occurredAt: at, data });
  const line = (sku: string) => ({ sku, quantity: 1 + (index % 4), unitPriceMinor: 100 + (index % 5_000) });
  return [
    envelope(1, 'OrderPlaced', { customerId: `customer-${String(index % 10_000)}`, currency: ['EUR', 'USD', 'GBP'][index % 3], lines: [line('SKU-A'), line('SKU-B')] }),
    envelope(2, 'OrderLineAdded', { line: line('SKU-C') }),
    envelope(3, 'OrderConfirmed', { paymentReference: `pay-${String(index)}` }),
    envelope(4, 'OrderShipped', { carrier: 'DHL', trackingNumber: `T-${String(index)}` }),
  ];
}

const kafka = new KafkaConnection(config.kafka);
const topic = orderEventsTopic(config);
await ensureTopics(kafka, [topic]);
const publisher = new EventPublisher(kafka, topic);
const started = performance.now();
const orders = Math.floor(events / 4);
const chunk = 2_500;
for (let first = 0; first < orders; first += chunk) {
  const records = [];
  for (let index = first; index < Math.min(orders, first + chunk); index++) {
    for (const event of lifecycle(randomUUID(), index)) records.push(encodeEnvelope(event, { correlationId: 'seed-log', causationId: 'seed-log' }));
  }
  await publisher.publish(records);
  process.stdout.write(`\rseed-log: ${String((first + chunk) * 4 > events ? orders * 4 : (first + chunk) * 4)} events`);
}
await publisher.close();
const seconds = (performance.now() - started) / 1_000;
console.log(`\rseed-log: ${String(orders * 4)} events of ${String(orders)} orders on ${topic.name} in ${seconds.toFixed(1)} s`);
