import type pg from 'pg';

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
    // nothing to confirm while the outbox is idle: other tables' writes would pile up WAL behind
    // it. With the driver confirming too, a keepalive moves the slot, but only once everything the
    // connector received is confirmed (pgjdbc's rule), so no event is skipped. No table to write
    // heartbeats into (a heartbeat action query) is needed.
    'lsn.flush.mode': 'connector_and_driver',
    // That mode wants heartbeats (Debezium sets 10 minutes when none is given): a heartbeat record
    // carries the slot's position into Connect's offsets while the outbox is idle. The records
    // themselves go nowhere (the first transform drops them), their offsets are still committed.
    'heartbeat.interval.ms': '10000',
    // On start, the later of the offsets' LSN and the slot's: the driver may have moved the slot past
    // the offsets (an idle outbox), and the offsets may be past the slot (a crash before the slot was
    // told). Either way everything before it was published. Debezium's advice for this flush mode.
    'offset.mismatch.strategy': 'trust_greater_lsn',
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
    // A lost connection to Postgres (a restart, a failover) is a retriable error to Debezium: the
    // task stays RUNNING, waits this long, and streams again from its slot, as often as it takes
    // (-1, Debezium's default, written out because a limit would leave the task FAILED after a long
    // outage). The default wait, 10 s, was most of the recovery after a restart
    // (test/faults/debezium.faults.spec.ts, "Postgres immediate shutdown").
    'errors.max.retries': '-1',
    'retriable.restart.connector.wait.ms': '2000',
  };
}

/**
 * Heartbeats are dropped first (Debezium sends them to a topic of their own, which nobody creates).
 * EventRouter makes the record (key: order_id, value: payload, one header per other column), then
 * DropHeaders removes the `id` header EventRouter always adds (`event-id` carries it already), and
 * DropNullHeaders removes `traceparent` when the column was NULL.
 */
function transforms(topic: string): Record<string, string> {
  return {
    transforms: 'dropHeartbeats,outbox,dropId,dropNullTraceparent',
    'transforms.dropHeartbeats.type': 'org.apache.kafka.connect.transforms.Filter',
    'transforms.dropHeartbeats.predicate': 'isHeartbeat',
    predicates: 'isHeartbeat',
    'predicates.isHeartbeat.type': 'org.apache.kafka.connect.transforms.predicates.TopicNameMatches',
    'predicates.isHeartbeat.pattern': '__debezium-heartbeat\\..*',
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
 * keep for it. Undefined when there is no such slot (or it has never confirmed anything).
 */
export async function captureSlotLagBytes(client: Sql, slotName: string): Promise<number | undefined> {
  const { rows } = await client.query<{ lag: string | null }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  const lag = rows[0]?.lag;
  return lag === undefined || lag === null ? undefined : Number(lag);
}
