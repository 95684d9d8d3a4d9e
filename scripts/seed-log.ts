/**
 * Writes a synthetic log of order events straight to the orders topic, for measuring replays:
 * `npm run seed:log -- [events] [--spread <orders>]` (default 200,000 events). Each order is placed,
 * gains a line, is confirmed and shipped: four events, keyed by order id, in version order, adjacent
 * unless `--spread` interleaves that many orders' lifecycles (their events then lie that many records
 * apart, as in a log whose orders live for a while).
 *
 * It bypasses the event store on purpose (the store would take minutes to relay a million events),
 * so it refuses the default topic: point ORDERS_TOPIC (and DATABASE_URL) at scratch ones.
 */
import { parseArgs } from 'node:util';

import { KafkaConnection, ensureTopics, orderEventsTopic } from '@app/messaging';
import { loadConfigOrExit } from '@app/platform';

import { writeSyntheticLog } from './bench/synthetic-log.js';

const config = loadConfigOrExit();
const usage = (message: string): never => {
  console.error(`seed-log: ${message}\nUsage: npm run seed:log -- [events] [--spread <orders>]`);
  process.exit(2);
};
const parsed = (() => {
  try {
    return parseArgs({ allowPositionals: true, options: { spread: { type: 'string' } } });
  } catch (error) {
    return usage(error instanceof Error ? error.message : String(error));
  }
})();
const [count, ...extra] = parsed.positionals;
if (extra.length > 0) usage(`one number of events, not ${JSON.stringify(parsed.positionals)}`);
const events = Number(count ?? 200_000);
if (!Number.isInteger(events) || events < 4 || events > 100_000_000)
  usage(`the number of events must be an integer from 4 to 100,000,000, not ${JSON.stringify(count)}`);
const spread = Number(parsed.values.spread ?? 1);
if (!Number.isInteger(spread) || spread < 1 || spread > 1_000_000)
  usage(`--spread must be an integer from 1 to 1,000,000 orders, not ${JSON.stringify(parsed.values.spread)}`);
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
const written = await writeSyntheticLog(kafka, topic, events, {
  spread,
  onProgress: (written) => process.stdout.write(`\rseed-log: ${String(written)} events`),
});
const seconds = (performance.now() - started) / 1_000;
console.log(
  `\rseed-log: ${String(written)} events of ${String(written / 4)} orders${spread > 1 ? ` (${String(spread)} interleaved at a time)` : ''} on ${topic.name} in ${seconds.toFixed(1)} s`,
);
