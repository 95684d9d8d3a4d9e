import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { DataSource } from 'typeorm';

import { createDataSource } from '@app/platform';
import { RebuildRecords, orderViewProjection, salesProjection } from '@app/projections';
import { createTestEnvironment, eventually, type TestEnvironment } from '@app/testing';

import { RebuildScheduler } from './rebuild-scheduler.js';

describe('rebuild scheduler', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let scheduler: RebuildScheduler;

  before(async () => {
    env = await createTestEnvironment('rebuild_scheduler');
    dataSource = await createDataSource(env.config.readDatabaseUrl, { applicationName: 'scheduler-test' });
    const context = {
      dataSource,
      kafka: env.kafka,
      topic: env.config.kafka.ordersTopic,
      groupPrefix: env.config.kafka.groupPrefix,
    };
    // As after a deploy that bumped the order view's version.
    scheduler = new RebuildScheduler(context, [{ ...orderViewProjection, version: 2 }, salesProjection]);
    await scheduler.start();
  });

  after(async () => {
    await scheduler.stop();
    await dataSource.destroy();
    await env.dispose();
  });

  const generation = async (projection: string): Promise<{ generation: number; version: number }> =>
    (
      await env.readDb.query<{ generation: number; version: number }>(
        'SELECT generation, version FROM projection_generations WHERE projection = $1',
        [projection],
      )
    ).rows[0]!;

  it('rebuilds, on start, a projection whose version is newer than its live generation, and only that one', async () => {
    await eventually(
      async () => {
        assert.deepEqual(await generation('order-view'), { generation: 2, version: 2 });
      },
      { timeoutMs: 30_000 },
    );
    const latest = await new RebuildRecords(dataSource).latest('order-view');
    assert.deepEqual(
      [latest?.requestedBy, latest?.reason, latest?.state],
      ['projection-worker', 'version 1 → 2', 'switched'],
    );
    assert.deepEqual(await generation('sales'), { generation: 1, version: 1 });
  });

  it('runs a rebuild the admin API requested', async () => {
    const requested = await new RebuildRecords(dataSource).request({
      projection: 'sales',
      version: 1,
      requestedBy: 'test',
      reason: 'admin-api',
    });
    const finished = await eventually(
      async () => {
        const record = await new RebuildRecords(dataSource).find(requested.id);
        assert.equal(record?.state, 'switched');
        return record;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(finished.generation, 2);
  });
});
