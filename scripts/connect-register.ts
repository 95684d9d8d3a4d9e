/**
 * Registers the outbox capture connector (OUTBOX_RELAY=debezium) on a Kafka Connect worker and
 * waits until it and its task run; a FAILED one ends this with Connect's trace, not a timeout.
 * `npm run connect:register -- [--topic orders.events] [--name …] [--slot …]`, after
 * `npm run connect:start` (scripts/connect.sh), with DATABASE_URL naming a Postgres with logical WAL.
 *
 * Environment: DATABASE_URL (required), CONNECT_URL (default http://127.0.0.1:$CONNECT_PORT, 8083),
 * KAFKA_BROKERS (default 127.0.0.1:9092), where the connector's heartbeat topic is made if missing.
 */
import { parseArgs } from 'node:util';

import {
  ConnectWorker,
  captureConnectorConfig,
  captureHeartbeatTopic,
  DEFAULT_CAPTURE_CONNECTOR,
  DEFAULT_CAPTURE_SLOT,
} from '@app/event-store';
import { KafkaConnection, ensureTopics, heartbeatTopic } from '@app/messaging';
import { loadConfigOrExit, redact } from '@app/platform';

function fail(message: string): never {
  console.error(`connect:register: ${message}`);
  process.exit(1);
}

let options;
try {
  options = parseArgs({
    options: {
      topic: { type: 'string', default: process.env.ORDERS_TOPIC ?? 'orders.events' },
      name: { type: 'string', default: DEFAULT_CAPTURE_CONNECTOR },
      slot: { type: 'string', default: DEFAULT_CAPTURE_SLOT },
      timeout: { type: 'string', default: '120' },
    },
  }).values;
} catch (error) {
  fail(`${(error as Error).message}; usage: --topic <topic> [--name <connector>] [--slot <slot>] [--timeout <s>]`);
}
const databaseUrl = process.env.DATABASE_URL ?? fail('set DATABASE_URL (scripts/connect.sh start prints it)');
const connectUrl = process.env.CONNECT_URL ?? `http://127.0.0.1:${process.env.CONNECT_PORT ?? '8083'}`;
const timeoutSeconds = Number(options.timeout);
if (!(timeoutSeconds > 0)) fail(`--timeout must be a number of seconds, not "${options.timeout}"`);

let config: Record<string, string>;
try {
  config = captureConnectorConfig({
    databaseUrl,
    topic: options.topic,
    connectorName: options.name,
    slotName: options.slot,
  });
} catch (error) {
  fail((error as Error).message);
}

// The heartbeats must reach Kafka for the slot to move while the outbox is idle (capture-connector.ts).
await ensureTopics(new KafkaConnection({ ...loadConfigOrExit().kafka, clientId: 'connect-register' }), [
  heartbeatTopic(captureHeartbeatTopic(options.name)),
]).catch((error: unknown) => fail(`creating the heartbeat topic: ${String(error)}`));

const worker = new ConnectWorker(connectUrl);
await worker
  .register(options.name, config)
  .catch((error: unknown) => fail(`no Kafka Connect worker took the connector at ${connectUrl}: ${String(error)}`));
console.log(`registered ${options.name}: ${redact(databaseUrl)} -> topic ${options.topic}, slot ${options.slot}`);
await worker.waitRunning(options.name, timeoutSeconds * 1_000).catch((error: unknown) => fail(String(error)));
console.log(`${options.name} is RUNNING`);
