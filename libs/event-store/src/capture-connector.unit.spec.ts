import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  captureConnectorConfig,
  captureHeartbeatTopic,
  DEFAULT_CAPTURE_CONNECTOR,
  DEFAULT_CAPTURE_SLOT,
  HEARTBEAT_MESSAGE_PREFIX,
} from './capture-connector.js';

const base = { databaseUrl: 'postgres://postgres@127.0.0.1:5433/orders', topic: 'orders.events' };

describe('the capture connector configuration', () => {
  it('reads the outbox table through its insert-only publication, with a slot of its own', () => {
    const config = captureConnectorConfig(base);
    assert.equal(config['connector.class'], 'io.debezium.connector.postgresql.PostgresConnector');
    assert.equal(config['tasks.max'], '1');
    assert.equal(config['plugin.name'], 'pgoutput');
    assert.equal(config['publication.name'], 'outbox_capture');
    assert.equal(config['publication.autocreate.mode'], 'disabled');
    assert.equal(config['table.include.list'], 'public.outbox_capture');
    assert.equal(config['slot.name'], DEFAULT_CAPTURE_SLOT);
    assert.equal(config['topic.prefix'], DEFAULT_CAPTURE_CONNECTOR);
    assert.equal(config['snapshot.mode'], 'no_data');
    assert.equal(config['lsn.flush.mode'], 'connector');
  });

  it('takes the connection from the database URL', () => {
    const config = captureConnectorConfig({
      ...base,
      databaseUrl: 'postgresql://relay:p%40ss%3Aword@db.example/orders?sslmode=require',
    });
    assert.equal(config['database.hostname'], 'db.example');
    assert.equal(config['database.port'], '5432');
    assert.equal(config['database.user'], 'relay');
    assert.equal(config['database.password'], 'p@ss:word');
    assert.equal(config['database.dbname'], 'orders');
    assert.equal(config['database.sslmode'], 'require');
    assert.equal('database.password' in captureConnectorConfig(base), false, 'no password, none passed');
  });

  it('sends every record to the one topic, whatever its event type', () => {
    const config = captureConnectorConfig({ ...base, topic: 'orders.events.test' });
    assert.equal(config['transforms.outbox.type'], 'io.debezium.transforms.outbox.EventRouter');
    assert.equal(config['transforms.outbox.route.topic.replacement'], 'orders.events.test');
    // Java's (?s) is JavaScript's s flag: a dot matches a newline too.
    const java = config['transforms.outbox.route.topic.regex'] ?? '';
    assert.ok(java.startsWith('(?s)'));
    const everything = new RegExp(`^${java.slice('(?s)'.length)}$`, 's');
    for (const value of ['OrderPlaced', '', 'with\nnewline']) assert.match(value, everything);
  });

  it('makes the in-process relay record: order id key, payload value, the contract headers only', () => {
    const config = captureConnectorConfig(base);
    assert.equal(config['transforms.outbox.table.field.event.key'], 'order_id');
    assert.equal(config['transforms.outbox.table.field.event.payload'], 'payload');
    assert.equal(config['transforms.outbox.table.expand.json.payload'], 'false');
    assert.equal(
      config['transforms.outbox.table.fields.additional.placement'],
      'event_type:header:event-type,schema_version:header:schema-version,event_id:header:event-id,' +
        'correlation_id:header:correlation-id,causation_id:header:causation-id,traceparent:header:traceparent',
    );
    assert.equal(config.transforms, 'outbox,dropId,dropNullTraceparent');
    assert.equal(config['transforms.dropId.headers'], 'id');
    assert.equal(config['transforms.dropNullTraceparent.headers'], 'traceparent');
    assert.equal(config['extended.headers.enabled'], 'false');
    assert.equal(config['key.converter'], 'org.apache.kafka.connect.storage.StringConverter');
    assert.equal(config['value.converter'], 'org.apache.kafka.connect.storage.StringConverter');
  });

  it('sends heartbeats, each a WAL message the connector reads and confirms, to a topic of their own', () => {
    const config = captureConnectorConfig(base);
    assert.match(config['heartbeat.action.query'] ?? '', /pg_logical_emit_message\(false, /);
    assert.equal(config['message.prefix.exclude.list'], HEARTBEAT_MESSAGE_PREFIX);
    assert.equal(captureHeartbeatTopic(), `__debezium-heartbeat.${DEFAULT_CAPTURE_CONNECTOR}`);
  });

  it('produces with acks=all and idempotence', () => {
    const config = captureConnectorConfig(base);
    assert.equal(config['producer.override.acks'], 'all');
    assert.equal(config['producer.override.enable.idempotence'], 'true');
  });

  it('is all strings, as Connect takes it', () => {
    for (const [name, value] of Object.entries(captureConnectorConfig(base)))
      assert.equal(typeof value, 'string', name);
  });

  it('refuses names Kafka or Postgres would refuse, and URLs it cannot pass on', () => {
    assert.throws(() => captureConnectorConfig({ ...base, topic: 'orders events' }), /topic must be/);
    assert.throws(() => captureConnectorConfig({ ...base, slotName: 'Orders-Slot' }), /slotName must be/);
    assert.throws(() => captureConnectorConfig({ ...base, slotName: 'x'.repeat(64) }), /slotName must be/);
    assert.throws(() => captureConnectorConfig({ ...base, connectorName: 'a/b' }), /connectorName must be/);
    assert.throws(() => captureConnectorConfig({ ...base, databaseUrl: 'mysql://x/orders' }), /postgres:\/\/ URL/);
    assert.throws(() => captureConnectorConfig({ ...base, databaseUrl: 'postgres://x' }), /name a database/);
    assert.throws(
      () => captureConnectorConfig({ ...base, databaseUrl: 'postgres://x/orders?options=-c%20a%3Db' }),
      /options/,
    );
  });
});
