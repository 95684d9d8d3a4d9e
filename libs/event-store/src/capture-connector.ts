import type pg from 'pg';

import { CAPTURE_SLOT_QUERY, toCaptureSlot } from './capture-slot.js';

/**
 * The outbox relay as change data capture (OUTBOX_RELAY=debezium): Debezium's Postgres connector
 * reads the inserts into `outbox_capture` from the WAL and publishes each as the record the
 * in-process relay would have sent. The app inserts and deletes its rows in one transaction, so the
 * table stays empty and only the WAL (through the insert-only publication) carries them.
 */

/** The table, publication and columns the app writes; see the migration that creates them. */
export const CAPTURE_TABLE = 'public.outbox_capture';
export const CAPTURE_PUBLICATION = 'outbox_capture';
export const DEFAULT_CAPTURE_CONNECTOR = 'orders-outbox-capture';
export const DEFAULT_CAPTURE_SLOT = 'orders_outbox_capture';
/**
 * The topic the connector's heartbeat records go to (Debezium's name for it). Create it before
 * registering the connector (one partition, compacted: only the latest heartbeat matters); the
 * broker does not create topics on first use.
 */
export function captureHeartbeatTopic(connectorName: string = DEFAULT_CAPTURE_CONNECTOR): string {
  return `__debezium-heartbeat.${connectorName}`;
}

/** The prefix of the logical decoding messages the heartbeats write (see heartbeat.action.query). */
export const HEARTBEAT_MESSAGE_PREFIX = 'orders-outbox-capture-heartbeat';

/**
 * Our one transform of our own (scripts/connect/transforms), on the worker's classpath: EventRouter
 * turns a NULL `traceparent` into a header with a null value, which the in-process relay leaves out.
 */
export const DROP_NULL_HEADERS_TRANSFORM = 'orders.connect.DropNullHeaders';

export interface CaptureConnectorOptions {
  /** `postgres://user[:password]@host[:port]/database[?sslmode=…]`: the event store, with wal_level=logical. */
  readonly databaseUrl: string;
  /** The topic every record goes to, whatever its event type. */
  readonly topic: string;
  /** The replication slot; one per connector, and it outlives the connector (see dropCaptureSlot). */
  readonly slotName?: string;
  /** Also Debezium's logical name (topic.prefix), which names its metrics. */
  readonly connectorName?: string;
  readonly publication?: string;
}

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
// Postgres' own rule for slot names.
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
// It goes into the REST path and into Debezium's JMX names.
const CONNECTOR_NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** The headers of a record, in the in-process relay's order: column, then header name. */
const HEADER_COLUMNS = [
  ['event_type', 'event-type'],
  ['schema_version', 'schema-version'],
  ['event_id', 'event-id'],
  ['correlation_id', 'correlation-id'],
  ['causation_id', 'causation-id'],
  ['traceparent', 'traceparent'],
] as const;

/** The connector's configuration for `PUT /connectors/<name>/config`: every value a string, as Connect wants. */
export function captureConnectorConfig(options: CaptureConnectorOptions): Record<string, string> {
  const { topic, slotName = DEFAULT_CAPTURE_SLOT, connectorName = DEFAULT_CAPTURE_CONNECTOR } = options;
  const publication = options.publication ?? CAPTURE_PUBLICATION;
  if (!TOPIC_NAME.test(topic))
    throw new Error(`topic must be a Kafka topic name ([A-Za-z0-9._-], 1-249), not "${topic}"`);
  if (!SLOT_NAME.test(slotName)) throw new Error(`slotName must be [a-z0-9_], 1-63 characters, not "${slotName}"`);
  if (!SLOT_NAME.test(publication))
    throw new Error(`publication must be [a-z0-9_], 1-63 characters, not "${publication}"`);
  if (!CONNECTOR_NAME.test(connectorName))
    throw new Error(`connectorName must be [A-Za-z0-9._-], 1-200 characters, not "${connectorName}"`);

  return {
    'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
    // One task: a slot has one reader, and one reader keeps every order's events in commit order.
    'tasks.max': '1',
    ...databaseSettings(options.databaseUrl),
    'topic.prefix': connectorName,
    'plugin.name': 'pgoutput',
    // The migration creates the publication (insert-only, this table only); a connector that made
    // its own would publish deletes and updates too, and need the table's owner.
    'publication.name': publication,
    'publication.autocreate.mode': 'disabled',
    'table.include.list': CAPTURE_TABLE,
    'slot.name': slotName,
    // Kept across restarts of the connector: the slot is where it resumes. Teardown drops it.
    'slot.drop.on.stop': 'false',
    // No snapshot: the table is empty by contract (each row is deleted in the transaction that
    // inserted it), so the WAL is the only place the events ever are, and a snapshot could only
    // read rows the contract says do not exist. The same holds for any mode: events committed before
    // the slot existed are never relayed, so the slot must exist before the app writes to the table.
    'snapshot.mode': 'no_data',
    // The slot's confirmed position moves only when the connector confirms an LSN, and it has
    // nothing to confirm while the outbox is idle: other tables' writes would pile up WAL behind it.
    // So each heartbeat writes a logical decoding message into the WAL (non-transactional: no table,
    // and decoded whatever the publication); the connector reads it (no record: its prefix is
    // excluded), and the heartbeat record that follows carries its LSN. Once Kafka has that record,
    // Connect flushes offsets and Debezium confirms the LSN to the slot. The heartbeat record must
    // really be produced (to captureHeartbeatTopic): Connect flushes nothing for a record a transform
    // drops, and the slot then stays where the last event left it.
    // lsn.flush.mode=connector_and_driver is not enough: it moved an idle slot only until the
    // connector had published its first event.
    'heartbeat.interval.ms': '10000',
    'heartbeat.action.query': `SELECT pg_logical_emit_message(false, '${HEARTBEAT_MESSAGE_PREFIX}', '')`,
    'message.prefix.exclude.list': HEARTBEAT_MESSAGE_PREFIX,
    'lsn.flush.mode': 'connector',
    // The slot is confirmed from the offsets, so it is never ahead of them unless one of the two was
    // replaced (a slot dropped and made again, an offsets file restored): then the connector fails
    // rather than silently skipping what lay between. Offsets and slot are kept or wiped together.
    'offset.mismatch.strategy': 'trust_offset',
    // The publication sends inserts only; anything else would be a contract broken, not data.
    'tombstones.on.delete': 'false',
    // Debezium 3 adds headers of its own to every record (__debezium.context.*: connector, task,
    // run id); the contract's headers are the only ones a record carries.
    'extended.headers.enabled': 'false',
    ...transforms(topic),
    // The strings are passed as UTF-8 bytes, unchanged: the key is the order id, the value the
    // envelope exactly as the app wrote it (byte for byte, no JSON converter re-encoding it).
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'header.converter': 'org.apache.kafka.connect.storage.SimpleHeaderConverter',
    // Records go out as the in-process relay's do: acknowledged by every in-sync replica, and a
    // retry never writes one twice or reorders an order's events (idempotence keeps the order of
    // up to 5 batches in flight).
    'producer.override.acks': 'all',
    'producer.override.enable.idempotence': 'true',
    'producer.override.max.in.flight.requests.per.connection': '5',
    // A task that fails stays FAILED, visible in its status, rather than skipping an event.
    'errors.tolerance': 'none',
    // How long the task waits for decoded changes before handing Connect an empty batch. Debezium's
    // 500 ms default was most of the commit-to-topic latency measured (p50 about 400 ms, `npm run
    // bench`); 20 ms cut it to about 30 ms at more than twice the JVM's CPU per order. 100 ms keeps
    // the idle worker cheap and the delay a fraction of a projection's batch.
    'poll.interval.ms': '100',
    // A lost connection to Postgres (a restart, a failover) is a retriable error to Debezium: the
    // task stays RUNNING, waits this long, and streams again from its slot, as often as it takes
    // (-1, Debezium's default, written out because a limit would leave the task FAILED after a long
    // outage). The default wait, 10 s, was most of the recovery after a restart
    // (test/faults/debezium.faults.spec.ts, "Postgres immediate shutdown").
    'errors.max.retries': '-1',
    'retriable.restart.connector.wait.ms': '2000',
    // Kafka away for longer than the producer's default 2 minutes would fail the send, and with it
    // the task (errors.tolerance none): the relay keeps trying instead, as the in-process one does,
    // while the slot holds what is not yet published (OutboxCaptureSlotLagging watches its size).
    'producer.override.delivery.timeout.ms': '2147483647',
  };
}

/**
 * EventRouter makes the record (key: order_id, value: payload, one header per other column) and
 * passes heartbeat records through untouched; then DropHeaders removes the `id` header EventRouter
 * always adds (`event-id` carries it already), and DropNullHeaders removes `traceparent` when the
 * column was NULL.
 */
function transforms(topic: string): Record<string, string> {
  return {
    transforms: 'outbox,dropId,dropNullTraceparent',
    'transforms.outbox.type': 'io.debezium.transforms.outbox.EventRouter',
    'transforms.outbox.table.field.event.id': 'event_id',
    'transforms.outbox.table.field.event.key': 'order_id',
    'transforms.outbox.table.field.event.payload': 'payload',
    // EventRouter names the topic after a column, then rewrites that name with a regex. Every record
    // goes to one topic: any NOT NULL column will do, and the regex matches any value, newlines
    // included ((?s)), so the fixed replacement is always the result.
    'transforms.outbox.route.by.field': 'event_type',
    'transforms.outbox.route.topic.regex': '(?s).*',
    'transforms.outbox.route.topic.replacement': topic,
    'transforms.outbox.table.fields.additional.placement': HEADER_COLUMNS.map(
      ([column, header]) => `${column}:header:${header}`,
    ).join(','),
    // The payload is text to pass on as it is, never parsed and re-serialised.
    'transforms.outbox.table.expand.json.payload': 'false',
    // An empty payload is still an event (the app never writes one), not a tombstone.
    'transforms.outbox.route.tombstone.on.empty.payload': 'false',
    'transforms.dropId.type': 'org.apache.kafka.connect.transforms.DropHeaders',
    'transforms.dropId.headers': 'id',
    'transforms.dropNullTraceparent.type': DROP_NULL_HEADERS_TRANSFORM,
    'transforms.dropNullTraceparent.headers': 'traceparent',
  };
}

/** Debezium's connection settings from a postgres:// URL. */
function databaseSettings(databaseUrl: string): Record<string, string> {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error('databaseUrl must be a postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new Error(`databaseUrl must be a postgres:// URL, not ${url.protocol}`);
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!database) throw new Error('databaseUrl must name a database');
  const unsupported = [...url.searchParams.keys()].filter((name) => name !== 'sslmode');
  if (unsupported.length > 0)
    throw new Error(`databaseUrl parameters other than sslmode are not passed to Debezium: ${unsupported.join(', ')}`);
  const settings: Record<string, string> = {
    'database.hostname': url.hostname,
    'database.port': url.port || '5432',
    'database.user': decodeURIComponent(url.username) || 'postgres',
    'database.dbname': database,
  };
  if (url.password) settings['database.password'] = decodeURIComponent(url.password);
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode) settings['database.sslmode'] = sslmode;
  return settings;
}

type Sql = Pick<pg.ClientBase, 'query'> | Pick<pg.Pool, 'query'>;

/**
 * Drops the connector's replication slot: a slot outlives its connector and keeps every byte of WAL
 * written since its position, until the disk is full. Delete the connector first (the slot of a
 * running one is active and cannot be dropped), and its Connect offsets with it: they name LSNs of
 * this slot. Returns whether there was a slot to drop.
 */
export async function dropCaptureSlot(client: Sql, slotName: string): Promise<boolean> {
  const { rows } = await client.query<{ active: boolean }>(
    'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
    [slotName],
  );
  const slot = rows[0];
  if (!slot) return false;
  if (slot.active) throw new Error(`replication slot ${slotName} is in use: delete its connector first`);
  await client.query('SELECT pg_drop_replication_slot($1)', [slotName]);
  return true;
}

/**
 * How many bytes of WAL the slot holds that its connector has not confirmed: what the server must
 * keep for it (readCaptureSlot, on a pg client). Undefined when this database has no such slot.
 */
export async function captureSlotLagBytes(client: Sql, slotName: string): Promise<number | undefined> {
  const { rows } = await client.query<{ active: boolean; lag_bytes: string | null }>(CAPTURE_SLOT_QUERY, [slotName]);
  return toCaptureSlot(rows[0])?.lagBytes;
}
