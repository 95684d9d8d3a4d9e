import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { DataSource } from 'typeorm';

import {
  BatchConsumer,
  EventPublisher,
  encodeEnvelope,
  orderEventsTopic,
  type BatchHandler,
  type EventEnvelope,
  type OutgoingRecord,
} from '@app/messaging';
import { createDataSource } from '@app/platform';
import { createTestEnvironment, eventually, type TestEnvironment } from '@app/testing';

import { customerSummaryProjection } from '../customer-summary.projection.js';
import { buildingGeneration, createGenerationLike } from '../generations.js';
import { orderViewProjection } from '../order-view.projection.js';
import { ProjectionRunner } from '../projection-runner.js';
import type { Projection } from '../projection.js';
import { salesProjection } from '../sales.projection.js';
import { topSkusProjection } from '../top-skus.projection.js';
import { ProjectionRebuilder, type ReplayContext } from './projection-rebuilder.js';

const ORDERS = 40;
const projections = [orderViewProjection, customerSummaryProjection, salesProjection, topSkusProjection];

/** Placed with two lines, a third added, confirmed, shipped: four events of one stream. */
function lifecycle(orderId: string, index: number): EventEnvelope[] {
  const at = new Date(Date.UTC(2026, 0, 1) + index * 60_000).toISOString();
  const line = (sku: string) => ({ sku, quantity: 1 + (index % 3), unitPriceMinor: 100 + index });
  const event = (version: number, type: string, data: unknown): EventEnvelope => ({
    eventId: randomUUID(),
    type,
    schemaVersion: 1,
    streamId: orderId,
    version,
    occurredAt: at,
    data,
  });
  return [
    event(1, 'OrderPlaced', {
      customerId: `customer-${String(index % 7)}`,
      currency: index % 2 === 0 ? 'EUR' : 'USD',
      lines: [line('A'), line('B')],
    }),
    event(2, 'OrderLineAdded', { line: line(`C${String(index % 5)}`) }),
    event(3, 'OrderConfirmed', { paymentReference: `pay-${String(index)}` }),
    event(4, 'OrderShipped', { carrier: 'DHL', trackingNumber: `T-${String(index)}` }),
  ];
}

const encoded = (envelope: EventEnvelope): OutgoingRecord =>
  encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c' });

/**
 * Rebuilds read the log ahead of their transactions and commit asynchronously (ADR 7): a rebuild must
 * still equal what the live runner built from the same log, aggregates included, park poison and
 * what follows it in its stream, and change nothing when a batch it applied is delivered again.
 */
describe('rebuilds reading ahead', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let context: ReplayContext;
  const poisoned = randomUUID();

  before(async () => {
    env = await createTestEnvironment('rebuild_read_ahead', { partitions: 3, relayEnabled: false });
    dataSource = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'read-ahead-test' });
    context = {
      dataSource,
      kafka: env.kafka,
      topic: env.config.kafka.ordersTopic,
      groupPrefix: env.config.kafka.groupPrefix,
    };
    const orders = Array.from({ length: ORDERS }, (_, index) => lifecycle(randomUUID(), index));
    const [placed, added, confirmed, shipped] = lifecycle(poisoned, ORDERS);
    const records = [
      ...orders.flat().map(encoded),
      // A relay's re-send of an event already in the log: a duplicate, applied once.
      encoded(orders[0]![1]!),
      // Poison in the middle of a stream: what follows it parks behind it.
      encoded(placed!),
      { key: poisoned, value: 'not an envelope', headers: {} },
      encoded(added!),
      encoded(confirmed!),
      encoded(shipped!),
    ];
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    await publisher.publish(records);
    await publisher.close();
    await Promise.all(projections.map((projection) => projectLive(projection)));
  });

  after(async () => {
    await dataSource.destroy();
    await env.dispose();
  });

  /** The live runner, a batch at a time as the worker applies them, until every partition is applied. */
  const projectLive = async (projection: Projection): Promise<void> => {
    const consumer = new BatchConsumer(
      env.kafka,
      { groupId: `${env.config.kafka.groupPrefix}live.${projection.name}`, topic: context.topic },
      new ProjectionRunner(dataSource, projection),
    );
    await consumer.start();
    try {
      await eventually(() => assertAppliedToLogEnd(projection.name), { timeoutMs: 60_000, intervalMs: 100 });
    } finally {
      await consumer.stop();
    }
  };

  const assertAppliedToLogEnd = async (projection: string, schema?: string): Promise<void> => {
    const offsets = schema === undefined ? 'projection_offsets' : `"${schema}".projection_offsets`;
    const { rows } = await env.readDb.query<{ n: string }>(
      `SELECT coalesce(sum(next_offset), 0)::text AS n FROM ${offsets} WHERE projection = $1`,
      [projection],
    );
    assert.equal(Number(rows[0]?.n), ORDERS * 4 + 6);
  };

  /** Every row of the projection's tables as readers see them, in one order. */
  const served = async (projection: Projection): Promise<Record<string, string[]>> => {
    const tables: Record<string, string[]> = {};
    for (const table of projection.tables) {
      const { rows } = await env.readDb.query<{ row: string }>(
        `SELECT to_jsonb(t)::text AS row FROM ${table} t ORDER BY 1`,
      );
      tables[table] = rows.map(({ row }) => row);
    }
    return tables;
  };

  const parked = async (projection: string, schema?: string): Promise<string[]> => {
    const table = schema === undefined ? 'parked_events' : `"${schema}".parked_events`;
    const { rows } = await env.readDb.query<{ item: string }>(
      `SELECT concat_ws(' ', order_id, "offset", reason) AS item FROM ${table} WHERE projection = $1 ORDER BY "offset"`,
      [projection],
    );
    return rows.map(({ item }) => item);
  };

  it('builds what the live runner built, aggregates included, with the poison and what follows it parked', async () => {
    for (const projection of projections) {
      const [live, liveParked] = [await served(projection), await parked(projection.name)];
      const record = await new ProjectionRebuilder(context).rebuild(
        { ...projection, version: projection.version + 1 },
        'test',
        'test',
      );
      assert.equal(record.state, 'switched', record.error ?? '');
      assert.deepEqual(await served(projection), live, projection.name);
      const rebuiltParked = await parked(projection.name);
      assert.deepEqual(rebuiltParked, liveParked, projection.name);
      assert.equal(rebuiltParked.length, 4, `${projection.name}: the poison and the three events behind it`);
      assert.ok(rebuiltParked.every((item) => item.startsWith(poisoned)));
    }
    const { rows } = await env.readDb.query<{ version: number; applied_events: number }>(
      'SELECT version, applied_events FROM order_view WHERE order_id = $1',
      [poisoned],
    );
    assert.deepEqual(rows, [{ version: 1, applied_events: 1 }]);
  });

  it('changes nothing when batches it applied are delivered again', async () => {
    const schema = `read_ahead_${randomUUID().slice(0, 8)}`;
    const { rows } = await env.readDb.query<{ schema_name: string }>(
      `SELECT schema_name FROM projection_generations WHERE projection = 'order-view'`,
    );
    await dataSource.transaction((db) => createGenerationLike(db, rows[0]!.schema_name, schema));
    const runner = new ProjectionRunner(dataSource, orderViewProjection, {
      scope: buildingGeneration(schema, { asynchronousCommit: true }),
    });
    const failedOnce = new Set<number>();
    // Each partition's first batch is applied, then reported failed: the consumer reads it again.
    const handler: BatchHandler = {
      storedOffsets: (topic, partitions) => runner.storedOffsets(topic, partitions),
      handleBatch: async (batch) => {
        const outcome = await runner.handleBatch(batch);
        if (failedOnce.has(batch.partition)) return outcome;
        failedOnce.add(batch.partition);
        throw new Error('lost answer');
      },
    };
    const consumer = new BatchConsumer(
      env.kafka,
      {
        groupId: `${env.config.kafka.groupPrefix}${schema}`,
        topic: context.topic,
        fetch: 'bulk',
        concurrentPartitions: 2,
        readAhead: 2,
      },
      handler,
    );
    await consumer.start();
    try {
      await eventually(() => assertAppliedToLogEnd('order-view', schema), { timeoutMs: 60_000, intervalMs: 100 });
    } finally {
      await consumer.stop();
    }
    assert.equal(failedOnce.size, 3);
    const { rows: differences } = await env.readDb.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (
         (SELECT * FROM "${schema}".order_view EXCEPT ALL SELECT * FROM order_view)
         UNION ALL (SELECT * FROM order_view EXCEPT ALL SELECT * FROM "${schema}".order_view)) AS d`,
    );
    assert.equal(differences[0]?.n, 0);
    const { rows: twice } = await env.readDb.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".order_view WHERE applied_events <> version`,
    );
    assert.equal(twice[0]?.n, 0, 'no event applied twice');
    assert.deepEqual(await parked('order-view', schema), await parked('order-view'));
    await env.readDb.query(`DROP SCHEMA "${schema}" CASCADE`);
  });
});
