import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import { encodeEnvelope, type EventEnvelope, type PartitionBatch } from '@app/messaging';
import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { orderViewProjection } from './order-view.projection.js';
import { ParkedEvents, retryDecidedOrders } from './parked-events.js';
import { ProjectionRunner } from './projection-runner.js';

const topic = 'orders.events';
const at = '2026-11-24T10:00:00.000Z';

function batch(partition: number, firstOffset: number, envelopes: readonly EventEnvelope[]): PartitionBatch {
  return {
    topic,
    partition,
    highWatermark: String(firstOffset + envelopes.length),
    fetchedFrom: String(firstOffset),
    lastOffset: String(firstOffset + envelopes.length - 1),
    logEnd: () => Promise.resolve(String(firstOffset + envelopes.length)),
    logStart: () => Promise.resolve('0'),
    heartbeat: () => Promise.resolve(),
    records: envelopes.map((envelope, index) => {
      const record = encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c' });
      return {
        topic,
        partition,
        offset: String(firstOffset + index),
        key: Buffer.from(record.key),
        value: Buffer.from(record.value),
        headers: record.headers,
      };
    }),
  };
}

function event(orderId: string, version: number, type: string, data: unknown): EventEnvelope {
  return { eventId: randomUUID(), type, schemaVersion: 1, streamId: orderId, version, occurredAt: at, data };
}

describe('parked events: what a discard means (ADR 6)', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let runner: ProjectionRunner;
  let parked: ParkedEvents;

  const view = async (orderId: string): Promise<unknown> =>
    (await env.readDb.query('SELECT status, version, lines FROM order_view WHERE order_id = $1', [orderId])).rows[0];
  const parkedRows = async (orderId: string): Promise<{ id: string; offset: string; dead_lettered: boolean }[]> =>
    (
      await env.readDb.query<{ id: string; offset: string; dead_lettered: boolean }>(
        'SELECT id::text, "offset"::text, dead_lettered FROM parked_events WHERE order_id = $1 ORDER BY "offset"',
        [orderId],
      )
    ).rows;

  before(async () => {
    env = await createTestEnvironment('parked_events', { relayEnabled: false });
    dataSource = await new DataSource({ type: 'postgres', url: env.config.readDatabaseUrl }).initialize();
    runner = new ProjectionRunner(dataSource, orderViewProjection);
    parked = new ParkedEvents(dataSource, [orderViewProjection]);
  });

  after(async () => {
    await dataSource.destroy();
    await env.dispose();
  });

  it('lets the order step over the discarded version, with no effect, and never applies that record again', async () => {
    const orderId = randomUUID();
    const placed = event(orderId, 1, 'OrderPlaced', {
      customerId: 'c',
      currency: 'EUR',
      lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }],
    });
    const broken = event(orderId, 2, 'OrderLineAdded', { line: null }); // decodes, but no projection can apply it
    const confirmed = event(orderId, 3, 'OrderConfirmed', { paymentReference: 'p' });
    await runner.handleBatch(batch(0, 0, [placed, broken, confirmed]));
    const rows = await parkedRows(orderId);
    assert.deepEqual(
      rows.map((row) => row.dead_lettered),
      [true, false],
      'the broken event is poison, the next one waits behind it',
    );

    assert.equal(await parked.discard(rows[0]?.id ?? ''), true);
    assert.deepEqual(await parked.retry(orderViewProjection.name, orderId), { applied: 1, stillParked: 0 });
    const confirmedView = { status: 'CONFIRMED', version: 3, lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }] };
    assert.deepEqual(await view(orderId), confirmedView);

    // As a rebuild or a replay reads the log again: the discarded record is skipped, not parked, and v3 follows v1.
    await env.readDb.query('DELETE FROM order_view WHERE order_id = $1', [orderId]);
    await env.readDb.query('DELETE FROM order_view_g1.projection_order_versions WHERE order_id = $1', [orderId]);
    await env.readDb.query('UPDATE order_view_g1.projection_offsets SET next_offset = 0 WHERE partition = 0');
    await runner.handleBatch(batch(0, 0, [placed, broken, confirmed]));
    assert.deepEqual(await view(orderId), confirmedView);
    assert.deepEqual(await parkedRows(orderId), []);
    const { rows: decisions } = await env.readDb.query(
      'SELECT decision, version FROM projection_decisions WHERE order_id = $1 ORDER BY id',
      [orderId],
    );
    assert.deepEqual(decisions, [
      { decision: 'discarded', version: 2 },
      { decision: 'retried', version: 3 },
    ]);
  });

  it('applies the real event of a version a discarded impostor claimed, arriving after the discard', async () => {
    const orderId = randomUUID();
    const placed = event(orderId, 1, 'OrderPlaced', { customerId: 'c', currency: 'EUR', lines: [] });
    const impostor = event(orderId, 2, 'OrderTeleported', {});
    await runner.handleBatch(batch(2, 0, [placed, impostor]));
    const rows = await parkedRows(orderId);
    assert.equal(await parked.discard(rows[0]?.id ?? ''), true);
    await runner.handleBatch(batch(2, 2, [event(orderId, 2, 'OrderConfirmed', { paymentReference: 'real' })]));
    assert.deepEqual(await view(orderId), { status: 'CONFIRMED', version: 2, lines: [] });
  });

  it('retries, before a rebuild switches, the orders an operator retried that its generation still holds parked', async () => {
    const orderId = randomUUID();
    // After partitions were added an order spans two: its v3 is read before its v2, and both park.
    await runner.handleBatch(
      batch(3, 0, [
        event(orderId, 1, 'OrderPlaced', { customerId: 'c', currency: 'EUR', lines: [] }),
        event(orderId, 3, 'OrderConfirmed', { paymentReference: 'p' }),
      ]),
    );
    await runner.handleBatch(
      batch(4, 0, [event(orderId, 2, 'OrderLineAdded', { line: { sku: 'B', quantity: 1, unitPriceMinor: 5 } })]),
    );
    assert.equal((await parkedRows(orderId)).length, 2);
    await env.readDb.query(
      `INSERT INTO projection_decisions (projection, decision, order_id, version, topic, partition, "offset", reason) VALUES ($1, 'retried', $2, 3, $3, 3, 1, 'an operator retried it')`,
      [orderViewProjection.name, orderId, topic],
    );
    assert.equal(await retryDecidedOrders(runner), 2);
    assert.deepEqual(await view(orderId), {
      status: 'CONFIRMED',
      version: 3,
      lines: [{ sku: 'B', quantity: 1, unitPriceMinor: 5 }],
    });
    assert.deepEqual(await parkedRows(orderId), []);
  });
});
