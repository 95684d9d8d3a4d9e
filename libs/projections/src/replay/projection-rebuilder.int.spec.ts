import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { DataSource } from 'typeorm';

import { EventPublisher, encodeEnvelope, orderEventsTopic, type EventEnvelope } from '@app/messaging';
import { createDataSource } from '@app/platform';
import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { orderViewProjection } from '../order-view.projection.js';
import { ProjectionRebuilder, type ReplayContext } from './projection-rebuilder.js';
import { RebuildAlreadyActive, RebuildRecords } from './rebuild-records.js';

function placed(orderId: string): EventEnvelope {
  return {
    eventId: randomUUID(),
    type: 'OrderPlaced',
    schemaVersion: 1,
    streamId: orderId,
    version: 1,
    occurredAt: '2026-11-24T10:00:00.000Z',
    data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }] },
  };
}

describe('projection rebuilder', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let context: ReplayContext;

  before(async () => {
    env = await createTestEnvironment('rebuilder');
    dataSource = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'rebuilder-test' });
    context = {
      dataSource,
      kafka: env.kafka,
      topic: env.config.kafka.ordersTopic,
      groupPrefix: env.config.kafka.groupPrefix,
    };
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    await publisher.publish(
      Array.from({ length: 300 }, () => encodeEnvelope(placed(randomUUID()), { correlationId: 'c', causationId: 'c' })),
    );
    await publisher.close();
  });

  after(async () => {
    await dataSource.destroy();
    await env.dispose();
  });

  const live = async (): Promise<{ schema_name: string; version: number }> =>
    (
      await env.readDb.query<{ schema_name: string; version: number }>(
        `SELECT schema_name, version FROM projection_generations WHERE projection = 'order-view'`,
      )
    ).rows[0]!;

  it('shows a plan for a dry run and changes nothing', async () => {
    const plan = await new ProjectionRebuilder(context).plan(orderViewProjection);
    assert.deepEqual([plan.live.schemaName, plan.nextGeneration, plan.events], ['order_view_g1', 2, 300]);
    assert.equal((await live()).schema_name, 'order_view_g1');
  });

  it('cancels when asked, dropping its generation and leaving the live one serving', async () => {
    const record = await new ProjectionRebuilder(context).rebuild(orderViewProjection, 'test', 'test', {
      signal: AbortSignal.abort(),
    });
    assert.equal(record.state, 'cancelled');
    assert.match(record.error ?? '', /cancelled/);
    assert.equal((await live()).schema_name, 'order_view_g1');
    const { rows } = await env.readDb.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1',
      [record.schemaName],
    );
    assert.equal(rows[0]?.n, 0);
  });

  it('refuses a second rebuild while one is requested', async () => {
    const records = new RebuildRecords(dataSource);
    const requested = await records.request({
      projection: 'order-view',
      version: 1,
      requestedBy: 'test',
      reason: 'test',
    });
    await assert.rejects(
      new ProjectionRebuilder(context).rebuild(orderViewProjection, 'test', 'test'),
      RebuildAlreadyActive,
    );
    assert.equal((await records.requestCancel(requested.id))?.state, 'cancelled');
  });

  it('fills a new generation from offset zero and switches readers to it, recording the version that built it', async () => {
    const record = await new ProjectionRebuilder(context).rebuild(
      { ...orderViewProjection, version: 2 },
      'test',
      'test',
    );
    assert.equal(record.state, 'switched', record.error ?? '');
    assert.equal(record.progress?.eventsDone, 300);
    assert.deepEqual(await live(), { schema_name: record.schemaName, version: 2 });
    const { rows } = await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM order_view');
    assert.equal(rows[0]?.n, 300);
    const { rows: old } = await env.readDb.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'order_view_g1'`,
    );
    assert.equal(old[0]?.n, 0);
    // Analyzed before the switch: Postgres plans the new tables from statistics, not guesses.
    const { rows: unanalyzed } = await env.readDb.query<{ relname: string }>(
      'SELECT relname FROM pg_stat_user_tables WHERE schemaname = $1 AND last_analyze IS NULL AND last_autoanalyze IS NULL',
      [record.schemaName],
    );
    assert.deepEqual(unanalyzed, []);
    const { rows: tables } = await env.readDb.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_user_tables WHERE schemaname = $1',
      [record.schemaName],
    );
    assert.ok((tables[0]?.n ?? 0) >= 4, `${String(tables[0]?.n)} tables in ${String(record.schemaName)}`);
    // The clone keeps the live index names, so later migrations can address them.
    const { rows: indexes } = await env.readDb.query<{ indexname: string }>(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
      [record.schemaName],
    );
    assert.deepEqual(
      indexes.map((row) => row.indexname).filter((name) => name.startsWith('order_view')),
      ['order_view_customer_idx', 'order_view_pkey', 'order_view_placed_idx', 'order_view_status_idx'],
    );
  });
});
