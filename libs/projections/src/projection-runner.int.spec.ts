import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { DataSource } from 'typeorm';

import { encodeEnvelope, type EventEnvelope, type PartitionBatch } from '@app/messaging';
import { PipelinedSql } from '@app/platform';
import { createTestEnvironment, type TestEnvironment } from '@app/testing';

import { written } from './kit/index.js';
import { orderViewProjection } from './order-view.projection.js';
import { LogBehindReadModel, ProjectionRunner } from './projection-runner.js';
import { BEHIND_PARKED } from './sequence.js';
import type { Projection } from './projection.js';
import type { SqlSession } from './sql-session.js';

const topic = 'orders.events';

function batch(
  partition: number,
  firstOffset: number,
  envelopes: readonly EventEnvelope[],
  highWatermark = firstOffset + envelopes.length,
  logEnd = highWatermark,
  read: { fetchedFrom?: number; lastOffset?: number; logStart?: number } = {},
): PartitionBatch {
  return {
    topic,
    partition,
    highWatermark: String(highWatermark),
    fetchedFrom: String(read.fetchedFrom ?? firstOffset),
    lastOffset: String(read.lastOffset ?? firstOffset + envelopes.length - 1),
    logEnd: () => Promise.resolve(String(logEnd)),
    logStart: () => Promise.resolve(String(read.logStart ?? 0)),
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

function lifecycle(orderId: string): EventEnvelope[] {
  const at = '2026-11-24T10:00:00.000Z';
  return [
    {
      eventId: randomUUID(),
      type: 'OrderPlaced',
      schemaVersion: 1,
      streamId: orderId,
      version: 1,
      occurredAt: at,
      data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 3, unitPriceMinor: 100 }] },
    },
    {
      eventId: randomUUID(),
      type: 'OrderConfirmed',
      schemaVersion: 1,
      streamId: orderId,
      version: 2,
      occurredAt: at,
      data: { paymentReference: 'p-1' },
    },
  ];
}

// The worker's live projections run on pipelined connections; rebuilds, retries and replays of one
// stream on TypeORM's transactions. Both must mean the same.
for (const sessions of ['TypeORM transactions', 'pipelined connections'] as const)
  describe(`projection runner on ${sessions}`, () => {
    let env: TestEnvironment;
    let dataSource: DataSource;
    let sql: PipelinedSql | undefined;
    let runner: ProjectionRunner;
    const runnerOf = (projection: Projection): ProjectionRunner =>
      new ProjectionRunner(dataSource, projection, sql ? { sql } : {});

    const view = async (orderId: string): Promise<unknown> =>
      (await env.readDb.query('SELECT status, version, total_minor FROM order_view WHERE order_id = $1', [orderId]))
        .rows[0];
    const storedOffset = async (partition: number): Promise<unknown> =>
      (
        await env.readDb.query('SELECT next_offset FROM projection_offsets WHERE projection = $1 AND partition = $2', [
          orderViewProjection.name,
          partition,
        ])
      ).rows[0]?.next_offset;

    before(async () => {
      env = await createTestEnvironment('projection_runner', { relayEnabled: false });
      dataSource = await new DataSource({ type: 'postgres', url: env.config.readDatabaseUrl }).initialize();
      if (sessions === 'pipelined connections')
        sql = new PipelinedSql(env.config.readDatabaseUrl, { max: 2, applicationName: 'projection-runner-test' });
      runner = runnerOf(orderViewProjection);
    });

    after(async () => {
      await sql?.close();
      await dataSource.destroy();
      await env.dispose();
    });

    it('applies a batch and stores the next offset with it', async () => {
      const orderId = randomUUID();
      const outcome = await runner.handleBatch(batch(0, 0, lifecycle(orderId)));
      assert.deepEqual(outcome, { kind: 'applied', nextOffset: '2' });
      assert.deepEqual(await view(orderId), { status: 'CONFIRMED', version: 2, total_minor: '300' });
      assert.equal(await storedOffset(0), '2');
    });

    it('changes nothing when the same batch is delivered again', async () => {
      const orderId = randomUUID();
      const events = lifecycle(orderId);
      await runner.handleBatch(batch(1, 0, events));
      const before = await env.readDb.query('SELECT * FROM order_view WHERE order_id = $1', [orderId]);
      const outcome = await runner.handleBatch(batch(1, 0, events));
      assert.deepEqual(outcome, { kind: 'applied', nextOffset: '2' });
      const afterwards = await env.readDb.query('SELECT * FROM order_view WHERE order_id = $1', [orderId]);
      assert.deepEqual(afterwards.rows, before.rows);
      assert.equal(await storedOffset(1), '2');
    });

    it('ignores a duplicate event at a new offset (a relay republish) by the row version', async () => {
      const orderId = randomUUID();
      const events = lifecycle(orderId);
      await runner.handleBatch(batch(2, 0, events));
      await runner.handleBatch(batch(2, 2, [{ ...events[0]!, occurredAt: '2030-01-01T00:00:00.000Z' }]));
      assert.deepEqual(await view(orderId), { status: 'CONFIRMED', version: 2, total_minor: '300' });
      assert.equal(await storedOffset(2), '3');
    });

    it('asks to rewind when a batch starts past the stored offset, applying nothing', async () => {
      const orderId = randomUUID();
      const outcome = await runner.handleBatch(batch(3, 5, lifecycle(orderId)));
      assert.deepEqual(outcome, { kind: 'rewind', offset: '0' });
      assert.equal(await view(orderId), undefined);
    });

    it('lets a stale member whose offset was overtaken change nothing', async () => {
      const orderId = randomUUID();
      const events = lifecycle(orderId);
      await runner.handleBatch(batch(4, 0, events));
      // A second member took over partition 4 and applied further; the stale one then replays the old batch.
      await env.readDb.query(
        'UPDATE order_view_g1.projection_offsets SET next_offset = 10 WHERE projection = $1 AND partition = 4',
        [orderViewProjection.name],
      );
      await env.readDb.query(`UPDATE order_view SET status = 'SHIPPED', version = 3 WHERE order_id = $1`, [orderId]);
      const stale = await runner.handleBatch(batch(4, 0, events, 12));
      assert.deepEqual(stale, { kind: 'applied', nextOffset: '10' });
      assert.deepEqual(await view(orderId), { status: 'SHIPPED', version: 3, total_minor: '300' });
    });

    it('changes nothing when its batch was fetched before another member applied further (the high watermark is stale, the log is not)', async () => {
      const orderId = randomUUID();
      const events = lifecycle(orderId);
      await runner.handleBatch(batch(6, 0, events));
      // Another member applied offsets 2..9 after this batch was fetched with the log ending at 2.
      await env.readDb.query(
        'UPDATE order_view_g1.projection_offsets SET next_offset = 10 WHERE projection = $1 AND partition = 6',
        [orderViewProjection.name],
      );
      const stale = await runner.handleBatch(batch(6, 0, events, 2, 10));
      assert.deepEqual(stale, { kind: 'applied', nextOffset: '10' });
      assert.equal(await storedOffset(6), '10');
    });

    it('refuses, changing nothing, when the log ends before what the read model already applied', async () => {
      const orderId = randomUUID();
      await runner.handleBatch(batch(5, 0, lifecycle(orderId)));
      // The topic was recreated: its log starts again at offset 0 and ends before the stored offset 2.
      const fresh = lifecycle(randomUUID()).slice(0, 1);
      await assert.rejects(runner.handleBatch(batch(5, 0, fresh, 1)), LogBehindReadModel);
      assert.equal(await storedOffset(5), '2');
      assert.equal(await view(fresh[0]!.streamId), undefined);
    });

    // A failure in the projection's code, one in the statements it sends (undone by a savepoint), and
    // one in a write it leaves for the commit (pipelined): each parked with its own error.
    for (const [failure, partition, fail, cause] of [
      ['a thrown error', 20, () => Promise.reject(new Error('cannot apply')), 'cannot apply'],
      ['a failed statement', 21, (db: SqlSession) => db.query('SELECT 1 / 0'), 'division by zero'],
      [
        'a failed write left for the commit',
        22,
        (db: SqlSession) => written(db, db.query('SELECT 1 / 0')),
        'division by zero',
      ],
    ] as const)
      it(`parks an event that fails to apply (${failure}), with the later events of its order, and applies the rest of the batch`, async () => {
        const [poisoned, healthy] = [randomUUID(), randomUUID()];
        const failing = runnerOf({
          ...orderViewProjection,
          apply: async (db, events) => {
            if (events.some((event) => event.streamId === poisoned && event.version === 1)) await fail(db);
            await orderViewProjection.apply(db, events);
          },
        });
        const [first, second] = lifecycle(poisoned);
        const outcome = await failing.handleBatch(batch(partition, 0, [first!, ...lifecycle(healthy), second!]));
        assert.deepEqual(outcome, { kind: 'applied', nextOffset: '4' });
        assert.deepEqual(await view(healthy), { status: 'CONFIRMED', version: 2, total_minor: '300' });
        assert.equal(await view(poisoned), undefined);
        const parked = await env.readDb.query<{ offset: string; reason: string }>(
          'SELECT "offset", reason FROM parked_events WHERE order_id = $1 ORDER BY "offset"',
          [poisoned],
        );
        assert.deepEqual(
          parked.rows.map((row) => [row.offset, row.reason]),
          [
            ['0', `apply failed 3 times: ${cause}`],
            ['3', BEHIND_PARKED],
          ],
        );
        assert.equal(await storedOffset(partition), '4');
      });

    describe('batches of several partitions in one transaction (handleBatches)', () => {
      /** The transaction ids that last wrote these partitions' offset rows, in the live generation's table. */
      const offsetWriters = async (partitions: readonly number[]): Promise<string[]> => {
        const live = await env.readDb.query<{ schema_name: string }>(
          'SELECT schema_name FROM projection_generations WHERE projection = $1',
          [orderViewProjection.name],
        );
        const rows = await env.readDb.query<{ xmin: string }>(
          `SELECT DISTINCT xmin::text FROM "${live.rows[0]!.schema_name}".projection_offsets
            WHERE projection = $1 AND partition = ANY($2::int[])`,
          [orderViewProjection.name, partitions],
        );
        return rows.rows.map((row) => row.xmin);
      };

      it("applies each and stores every partition's offset, in one transaction", async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        const settled = await runner.handleBatches([
          batch(31, 0, lifecycle(a)),
          batch(30, 0, lifecycle(b)),
          batch(32, 0, [...lifecycle(c)].slice(0, 1)),
        ]);
        assert.deepEqual(
          settled.map((result): unknown => (result.status === 'fulfilled' ? result.value : result.reason)),
          [
            { kind: 'applied', nextOffset: '2' },
            { kind: 'applied', nextOffset: '2' },
            { kind: 'applied', nextOffset: '1' },
          ],
        );
        assert.deepEqual([await storedOffset(30), await storedOffset(31), await storedOffset(32)], ['2', '2', '1']);
        assert.deepEqual(await view(a), { status: 'CONFIRMED', version: 2, total_minor: '300' });
        assert.deepEqual(await view(c), { status: 'PLACED', version: 1, total_minor: '300' });
        assert.equal((await offsetWriters([30, 31, 32])).length, 1);
      });

      it("keeps each partition's fencing: an applied batch changes nothing, a batch past the stored offset rewinds", async () => {
        const [applied, gap, fresh] = [randomUUID(), randomUUID(), randomUUID()];
        const events = lifecycle(applied);
        await runner.handleBatch(batch(33, 0, events));
        const settled = await runner.handleBatches([
          batch(33, 0, [{ ...events[0]!, occurredAt: '2030-01-01T00:00:00.000Z' }, events[1]!]),
          batch(34, 5, lifecycle(gap)),
          batch(35, 0, lifecycle(fresh)),
        ]);
        assert.deepEqual(
          settled.map((result): unknown => (result.status === 'fulfilled' ? result.value : result.reason)),
          [
            { kind: 'applied', nextOffset: '2' },
            { kind: 'rewind', offset: '0' },
            { kind: 'applied', nextOffset: '2' },
          ],
        );
        assert.deepEqual([await storedOffset(33), await storedOffset(34), await storedOffset(35)], ['2', '0', '2']);
        assert.equal(await view(gap), undefined);
        assert.deepEqual(await view(fresh), { status: 'CONFIRMED', version: 2, total_minor: '300' });
      });

      it("keeps one partition's trouble its own: a poison record is parked, a partition behind the read model refused, the rest applied", async () => {
        const [poisoned, healthy, behind] = [randomUUID(), randomUUID(), randomUUID()];
        const failing = runnerOf({
          ...orderViewProjection,
          apply: async (db, events) => {
            if (events.some((event) => event.streamId === poisoned && event.version === 1))
              throw new Error('cannot apply');
            await orderViewProjection.apply(db, events);
          },
        });
        await failing.handleBatch(batch(38, 0, lifecycle(randomUUID())));
        const settled = await failing.handleBatches([
          batch(36, 0, lifecycle(poisoned)),
          batch(37, 0, lifecycle(healthy)),
          batch(38, 0, lifecycle(behind), 1, 1),
        ]);
        assert.deepEqual(settled.slice(0, 2), [
          { status: 'fulfilled', value: { kind: 'applied', nextOffset: '2' } },
          { status: 'fulfilled', value: { kind: 'applied', nextOffset: '2' } },
        ]);
        const refused = settled[2];
        assert.ok(refused?.status === 'rejected' && refused.reason instanceof LogBehindReadModel);
        assert.deepEqual(await view(healthy), { status: 'CONFIRMED', version: 2, total_minor: '300' });
        assert.equal(await view(poisoned), undefined);
        const parked = await env.readDb.query('SELECT "offset" FROM parked_events WHERE order_id = $1', [poisoned]);
        assert.equal(parked.rowCount, 2);
        assert.deepEqual([await storedOffset(36), await storedOffset(37), await storedOffset(38)], ['2', '2', '2']);
        assert.equal(await view(behind), undefined);
      });
    });

    describe('when offsets have gaps (transaction markers, aborted records, deleted records)', () => {
      it('moves the stored offset past a marker that follows the last record', async () => {
        const orderId = randomUUID();
        const outcome = await runner.handleBatch(batch(7, 0, lifecycle(orderId), 3, 3, { lastOffset: 2 }));
        assert.deepEqual(outcome, { kind: 'applied', nextOffset: '3' });
        assert.equal(await storedOffset(7), '3');
        assert.deepEqual(await view(orderId), { status: 'CONFIRMED', version: 2, total_minor: '300' });
      });

      it('moves the stored offset across a read that held only invisible records', async () => {
        await runner.handleBatch(batch(8, 0, lifecycle(randomUUID())));
        const outcome = await runner.handleBatch(batch(8, 2, [], 6, 6, { fetchedFrom: 2, lastOffset: 5 }));
        assert.deepEqual(outcome, { kind: 'applied', nextOffset: '6' });
        assert.equal(await storedOffset(8), '6');
      });

      it('applies records that follow invisible ones read in the same run of fetches', async () => {
        const orderId = randomUUID();
        const outcome = await runner.handleBatch(batch(9, 4, lifecycle(orderId), 6, 6, { fetchedFrom: 0 }));
        assert.deepEqual(outcome, { kind: 'applied', nextOffset: '6' });
        assert.deepEqual(await view(orderId), { status: 'CONFIRMED', version: 2, total_minor: '300' });
      });

      it('moves on past records deleted from the log before they were applied', async () => {
        const orderId = randomUUID();
        const outcome = await runner.handleBatch(batch(10, 5, lifecycle(orderId), 7, 7, { logStart: 5 }));
        assert.deepEqual(outcome, { kind: 'applied', nextOffset: '7' });
        assert.deepEqual(await view(orderId), { status: 'CONFIRMED', version: 2, total_minor: '300' });
      });
    });
  });
