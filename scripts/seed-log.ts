/**
 * Writes a synthetic log of order events straight to the orders topic, for measuring replays:
 * `npm run seed:log -- <events>` (default 200,000). Each order is placed, gains a line, is confirmed
 * and shipped: four events, keyed by order id, in version order.
 *
 * It bypasses the event store on purpose (the store would take minutes to relay a million events),
 * so it refuses the default topic: point ORDERS_TOPIC (and DATABASE_URL) at scratch ones.
 */
import { KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { loadConfigOrExit } from '@app/platform';

import { writeSyntheticLog } from './bench/synthetic-log.js';

const config = loadConfigOrExit();
const events = Number(process.argv[2] ?? 200_000);
if (!Number.isInteger(events) || events < 4 || events > 100_000_000) {
  console.error(
    `seed-log: the number of events must be an integer from 4 to 100,000,000, not ${JSON.stringify(process.argv[2])}`,
  );
  process.exit(2);
}
if (config.kafka.ordersTopic === 'orders.events') {
  console.error(
    'seed-log writes straight to Kafka, bypassing the event store: set ORDERS_TOPIC (and DATABASE_URL) to scratch ones, not orders.events',
  );
  process.exit(2);
}

const kafka = new KafkaConnection(config.kafka);
const topic = orderEventsTopic(config);
await ensureTopics(kafka, [topic]);
const started = performance.now();
const written = await writeSyntheticLog(kafka, topic, events, (count) =>
  process.stdout.write(`\rseed-log: ${String(count)} events`),
);
const seconds = (performance.now() - started) / 1_000;
console.log(
  `\rseed-log: ${String(written)} events of ${String(written / 4)} orders on ${topic.name} in ${seconds.toFixed(1)} s`,
);
