import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import type { EventEnvelope, PartitionBatch } from '@app/messaging';
import { quoteIdentifier as quote } from '@app/platform';
import { consumedRecordsOf, createTestEnvironment, evolvingLifecycle, type TestEnvironment } from '@app/testing';

import { buildingGeneration, createGenerationLike, dropGeneration, findLiveGeneration } from './generations.js';
import { projections } from './index.js';
import { ProjectionRunner } from './projection-runner.js';
import type { Projection } from './projection.js';

function batchOf(envelopes: readonly EventEnvelope[]): PartitionBatch {
  const end = String(envelopes.length);
  return {
    topic: 'orders.events',
    partition: 0,
    highWatermark: end,
    fetchedFrom: '0',
    lastOffset: String(envelopes.length - 1),
    logEnd: () => Promise.resolve(end),
    logStart: () => Promise.resolve('0'),
    heartbeat: () => Promise.resolve(),
    records: consumedRecordsOf(envelopes),
  };
}

describe('a log mixing OrderPlaced v1 and v2 replays to the read models of the same log in v2', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  const built: string[] = [];
  const orders = Array.from({ length: 24 }, () => randomUUID());
  const mixed = orders.flatMap((orderId, index) => evolvingLifecycle(orderId, index, index % 2 === 0 ? 1 : 2));
  const allV2 = orders.flatMap((orderId, index) => evolvingLifecycle(orderId, index, 2));

  before(async () => {
    env = await createTestEnvironment('event_evolution', { relayEnabled: false });
    dataSource = await new DataSource({ type: 'postgres', url: env.config.readDatabaseUrl }).initialize();
  });

  after(async () => {
    for (const schema of built) await dropGeneration(dataSource.manager, schema);
    await dataSource.destroy();
    await env.dispose();
  });

  /** A scratch generation of `projection`, shaped like the live one, filled by the runner from `log`. */
  async function replay(projection: Projection, log: readonly EventEnvelope[]): Promise<string> {
    const live = await findLiveGeneration(dataSource.manager, projection.name);
    assert.ok(live, projection.name);
    const schema = `evolution_${randomBytes(5).toString('hex')}`;
    await dataSource.transaction((db) => createGenerationLike(db, live.schemaName, schema));
    built.push(schema);
    const runner = new ProjectionRunner(dataSource, projection, { scope: buildingGeneration(schema) });
    assert.deepEqual(await runner.handleBatch(batchOf(log)), { kind: 'applied', nextOffset: String(log.length) });
    return schema;
  }

  for (const projection of projections)
    it(`${projection.name}: every table equal, row for row`, async () => {
      const [a, b] = [await replay(projection, mixed), await replay(projection, allV2)];
      for (const table of projection.tables) {
        const [left, right] = [`${quote(a)}.${quote(table)}`, `${quote(b)}.${quote(table)}`];
        const { rows } = await env.readDb.query<{ n: number }>(
          `SELECT ((SELECT count(*) FROM (SELECT * FROM ${left} EXCEPT ALL SELECT * FROM ${right}) x)
                 + (SELECT count(*) FROM (SELECT * FROM ${right} EXCEPT ALL SELECT * FROM ${left}) y))::int AS n`,
        );
        assert.equal(rows[0]?.n, 0, `${projection.name}.${table} differs`);
        const { rows: count } = await env.readDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${left}`);
        assert.ok((count[0]?.n ?? 0) > 0, `${projection.name}.${table} is empty: the comparison would prove nothing`);
      }
      if (projection.name === 'order-view') {
        const { rows } = await env.readDb.query(`SELECT DISTINCT channel FROM ${quote(a)}.order_view`);
        assert.deepEqual(rows, [{ channel: 'web' }]);
      }
    });
});
