import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import { EventStore, OutboxRelay, type NewEvent } from '@app/event-store';
import { EventPublisher, ORDER_EVENTS, orderEventsTopic } from '@app/messaging';
import {
  PrivateConnect,
  PrivatePostgres,
  createTestEnvironment,
  readRawRecords,
  type RawRecord,
  type TestEnvironment,
} from '@app/testing';

/** Orders, each with one to four events: enough keys for every partition several times over. */
const ORDERS = 240;
const PARTITIONS = 6;

/** The same events, ids and times included, for both stores: what "the same commands" decide. */
function eventsOf(order: number): NewEvent[] {
  const count = 1 + (order % 4);
  return Array.from({ length: count }, (_, index) => ({
    eventId: randomUUID(),
    schemaVersion: index === 0 ? 2 : 1,
    event:
      index === 0
        ? {
            type: 'OrderPlaced',
            data: {
              customerId: `customer-${String(order)} “quoted” ✓`,
              currency: 'EUR',
              lines: [{ sku: `SKU-${String(index)}`, quantity: 1 + index, unitPriceMinor: 1999 }],
              channel: 'web',
            },
          }
        : {
            type: 'OrderLineAdded',
            data: { line: { sku: `SKU-${String(index)}`, quantity: index, unitPriceMinor: 5 } },
          },
    occurredAt: new Date(Date.UTC(2026, 11, 3, 10, 0, order, index)),
    metadata: {
      correlationId: randomUUID(),
      causationId: randomUUID(),
      // Half the commands came with a trace context, half without: the header is there or absent.
      ...(order % 2 === 0 && {
        traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
      }),
    },
  }));
}

/** What a record is on the wire, as comparable text: partition, key, value and headers as hex. */
function wire(record: RawRecord): string {
  const headers = record.headers.map(([name, value]) => `${name}=${value?.toString('hex') ?? 'null'}`).join(',');
  return `p${String(record.partition)} k=${record.key?.toString('hex') ?? 'null'} v=${record.value?.toString('hex') ?? 'null'} h=[${headers}]`;
}

const eventIdOf = (record: RawRecord): string =>
  record.headers.find(([name]) => name === 'event-id')?.[1]?.toString('utf8') ?? '';

/**
 * Issue 19, item 2: the in-process relay and Debezium's connector publish the same events as the
 * same records, byte for byte: key, value, every header and the partition. Both topics have six
 * partitions, so any disagreement between kafkajs' partitioner and Connect's shows.
 */
describe('the two relays publish identical records', () => {
  let postgres: PrivatePostgres;
  let connect: PrivateConnect;
  let inProcess: TestEnvironment;
  let captured: TestEnvironment;
  const stores: DataSource[] = [];

  before(async () => {
    postgres = await PrivatePostgres.start({ logical: true });
    connect = await PrivateConnect.start({ brokers: loadBrokers() });
    inProcess = await createTestEnvironment('parity_relay', { partitions: PARTITIONS });
    captured = await createTestEnvironment('parity_capture', {
      partitions: PARTITIONS,
      databaseServerUrl: postgres.url,
      capture: connect,
    });
  });

  after(async () => {
    await Promise.all(stores.map((store) => store.destroy()));
    await captured.dispose();
    await inProcess.dispose();
    await connect.destroy();
    await postgres.destroy();
  });

  it('same partition, key, value and headers for every event, in the same order per partition', async () => {
    const orders = Array.from({ length: ORDERS }, (_, order) => ({ orderId: randomUUID(), events: eventsOf(order) }));
    const total = orders.reduce((sum, order) => sum + order.events.length, 0);

    for (const env of [inProcess, captured]) {
      const dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
      stores.push(dataSource);
      const store = new EventStore(dataSource);
      store.useRelay(env.config.relay.mode);
      for (const { orderId, events } of orders) await store.transaction((db) => store.append(db, orderId, 0, events));
    }
    const relay = new OutboxRelay(new EventPublisher(inProcess.kafka, orderEventsTopic(inProcess.config)), {
      databaseUrl: inProcess.config.databaseUrl,
      pollIntervalMs: 100,
      batchSize: 500,
      leaseMs: 5_000,
      contract: ORDER_EVENTS,
    });
    relay.start();
    let fromRelay: RawRecord[];
    try {
      fromRelay = await readRawRecords(inProcess.kafka, inProcess.config.kafka.ordersTopic, total);
    } finally {
      await relay.stop();
    }
    const fromConnect = await readRawRecords(captured.kafka, captured.config.kafka.ordersTopic, total);

    assert.equal(fromRelay.length, total);
    assert.equal(fromConnect.length, total, 'every event once, none twice');
    const byEvent = new Map(fromConnect.map((record) => [eventIdOf(record), record]));
    let compared = 0;
    for (const record of fromRelay) {
      const other = byEvent.get(eventIdOf(record));
      assert.ok(other, `event ${eventIdOf(record)} was not published by Debezium`);
      assert.equal(wire(other), wire(record));
      compared++;
    }
    assert.equal(compared, total);
    // Each order's events in version order on its partition, on both topics alike.
    const sequence = (records: RawRecord[]): string[] =>
      [...records].sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset)).map(eventIdOf);
    assert.deepEqual(sequence(fromConnect), sequence(fromRelay));
    const traced = fromConnect.filter((record) => record.headers.some(([name]) => name === 'traceparent')).length;
    assert.ok(traced > 0 && traced < total, 'records with and without a traceparent header were compared');
    assert.ok(new Set(fromConnect.map((record) => record.partition)).size === PARTITIONS, 'every partition used');
  });
});

function loadBrokers(): string[] {
  return (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
}
