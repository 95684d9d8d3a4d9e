import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { encodeEnvelope, type EncodedEvent } from '@app/messaging';
import { projections } from '@app/projections';
import {
  AcknowledgedCommands,
  AdminCliProcess,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  transactionalProducer,
  type TransactionalProducer,
  loadUntil,
  readTopicToEnd,
  rebuildThroughAdminApi,
  reportFigure,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const PARTITIONS = 3;

interface OutboxRow {
  position: string;
  event_id: string;
  order_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: { correlationId: string; causationId: string };
  occurred_at: Date;
}

/**
 * Point 2 of issue 12: offsets the consumer never sees. The test itself is the outbox relay, as a
 * transactional producer (the way Kafka Connect or a Streams app writes): every batch of real events
 * goes in a committed transaction, and after each one an aborted transaction writes, on every
 * partition, an impostor next version of each order just published. Transaction markers and aborted
 * records leave gaps on every partition, and the log ends with an abort marker on each. The live
 * projections must reach the log end; a rebuild, whose high-water marks sit on those markers, must
 * switch; a single-order replay must finish; and no aborted record may ever be projected (the read
 * models equal the fold of the store, which never held them).
 */
describe('fault: transaction markers, aborted records and offset gaps on every partition', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let producer: TransactionalProducer;

  before(async () => {
    env = await createTestEnvironment('offset_gaps', { partitions: PARTITIONS, relayEnabled: false });
    system = await startSystem(env.config);
    producer = await transactionalProducer(env, 'tx');
  });

  after(async () => {
    await producer.disconnect();
    await system.close();
    await env.dispose();
  });

  const topic = (): string => env.config.kafka.ordersTopic;
  /** What the test wrote; `markers` counts the commit and abort markers, one per partition a transaction wrote to. */
  const counts = {
    committedTransactions: 0,
    abortedTransactions: 0,
    recordsCommitted: 0,
    recordsAborted: 0,
    markers: 0,
  };

  /**
   * An abort on every partition: impostor next versions of `orders`, and a record per partition.
   * Returns where the partitions' stranger records landed.
   */
  const abortImpostors = async (published: readonly OutboxRow[]): Promise<Map<number, number>> => {
    const impostors: { key: string; value: string; headers: Record<string, string>; partition?: number }[] =
      published.map((row) => ({ ...impostor(row.order_id, row.version + 1) }));
    // A stranger's record on each partition, so that every partition holds aborted records and ends on the marker.
    for (let partition = 0; partition < PARTITIONS; partition++)
      impostors.push({ ...impostor(randomUUID(), 1), partition });
    const transaction = await producer.transaction();
    const sent = await transaction.send({ topic: topic(), acks: -1, messages: impostors });
    await transaction.abort();
    counts.abortedTransactions++;
    counts.recordsAborted += impostors.length;
    counts.markers += new Set(sent.map((landed) => landed.partition)).size;
    return new Map(sent.map((landed) => [landed.partition, Number(landed.baseOffset ?? landed.offset)]));
  };

  /** Publishes what the outbox holds in one committed transaction, then aborts impostors after it. */
  const relayOnce = async (): Promise<number> => {
    const { rows } = await env.db.query<OutboxRow>(
      `SELECT e.position::text, e.event_id::text, e.order_id::text, e.version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at
         FROM outbox o JOIN events e USING (position) ORDER BY o.position LIMIT 200`,
    );
    if (rows.length === 0) return 0;
    const transaction = await producer.transaction();
    const sent = await transaction.send({
      topic: topic(),
      acks: -1,
      messages: rows.map((row) => ({ ...encoded(row) })),
    });
    await transaction.commit();
    counts.markers += new Set(sent.map((landed) => landed.partition)).size;
    await env.db.query('DELETE FROM outbox WHERE position = ANY($1::bigint[])', [rows.map((row) => row.position)]);
    counts.committedTransactions++;
    counts.recordsCommitted += rows.length;
    await abortImpostors(rows);
    return rows.length;
  };

  it('projects committed records, never aborted ones, and moves every stored offset across the gaps, live and in rebuilds', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const stop = { done: false };
    const load = loadUntil(system.commandApi.getHttpServer(), 12, stop, {
      clients: 2,
      max: 60,
      pauseMs: 20,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    }).finally(() => (stop.done = true));
    // The relay loop: publish while commands come, then drain what is left.
    while (!stop.done) {
      if ((await relayOnce()) > 0) continue;
      // Nothing to publish: wait for the next commit, or the load's end.
      await eventually(
        async () => {
          const { rows } = await env.db.query<{ pending: boolean }>('SELECT EXISTS (SELECT 1 FROM outbox) AS pending');
          assert.ok(stop.done || rows[0]?.pending, 'an event waits in the outbox');
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
    }
    await load;
    while ((await relayOnce()) > 0);
    // The log of every partition now ends on an abort marker. The coordinator writes markers after
    // the abort has answered: wait until each stands after that partition's one aborted record.
    const sealed = await abortImpostors([]);
    const ends = await eventually(
      async () => {
        const current = await logEnds(env);
        for (let partition = 0; partition < PARTITIONS; partition++) {
          assert.equal(
            current.get(partition),
            (sealed.get(partition) ?? NaN) + 2,
            `the abort marker of partition ${String(partition)} is written`,
          );
        }
        return current;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );

    // The precondition: every partition has gaps, and its last offset is a marker, not a record.
    // Read to the end, the log holds exactly what the test wrote: the committed records, and in the
    // gaps between them the aborted records and the markers.
    const { records: visible, skipped } = await readTopicToEnd(env.kafka, topic());
    assert.equal(visible.length, counts.recordsCommitted, 'a read_committed reader sees exactly the committed records');
    assert.equal(
      skipped,
      counts.recordsAborted + counts.markers,
      'the offsets it never sees are the aborted records and the markers',
    );
    const lastRecords = new Map<number, number>();
    for (const record of visible)
      lastRecords.set(record.partition, Math.max(lastRecords.get(record.partition) ?? -1, Number(record.offset)));
    for (let partition = 0; partition < PARTITIONS; partition++) {
      assert.ok(
        (ends.get(partition) ?? 0) > (lastRecords.get(partition) ?? -1) + 1,
        `partition ${String(partition)} ends on a marker`,
      );
    }

    await assertGuarantees(env, acknowledged, { topicMatchesStore: false });
    const offsetsAtLogEnd = await storedOffsetsAtLogEnd(env, ends);
    assert.equal(
      offsetsAtLogEnd,
      projections.length * PARTITIONS,
      'every live projection stored the log end of every partition',
    );

    // Rebuilds read the same log from zero; their high-water marks sit on markers.
    const rebuilt = [];
    for (const projection of projections)
      rebuilt.push(await rebuildThroughAdminApi(system.queryApi.getHttpServer(), projection.name));
    assert.equal(rebuilt.filter((rebuild) => rebuild.state === 'switched').length, projections.length);
    const { rows: marks } = await env.readDb.query<{ projection: string; marks: Record<string, number> }>(
      "SELECT projection, high_water_marks AS marks FROM projection_rebuilds WHERE state = 'switched'",
    );
    const endsByPartition = Object.fromEntries([...ends].map(([partition, end]) => [String(partition), end]));
    for (const { projection, marks: taken } of marks)
      assert.deepEqual(taken, endsByPartition, `${projection}'s high-water marks are the log ends, on the markers`);
    assert.equal(marks.length, projections.length);
    assert.equal(
      await storedOffsetsAtLogEnd(env, ends),
      projections.length * PARTITIONS,
      'every rebuilt generation stored the log end of every partition',
    );

    // A single-order replay reads its partition to the end, marker included.
    const { rows: sample } = await env.readDb.query<{ order_id: string }>(
      'SELECT order_id::text FROM order_view ORDER BY order_id LIMIT 1',
    );
    const replay = await new AdminCliProcess(env.config, ['order-view', '--order', sample[0]?.order_id ?? '']).exited;
    assert.equal(replay.code, 0, replay.stderr + replay.stdout);

    const figures = await assertGuarantees(env, acknowledged);
    const { rows: parked } = await env.readDb.query<{ n: number }>('SELECT count(*)::int AS n FROM parked_events');
    const parkedCount = parked.at(0)?.n;
    assert.equal(parkedCount, 0, 'no aborted impostor reached a projection, not even as poison');
    assert.ok(counts.committedTransactions > 1 && counts.abortedTransactions > counts.committedTransactions);
    assert.equal(counts.recordsCommitted, figures.events, 'every stored event was committed once on the topic');
    assert.equal(figures.duplicatesOnTopic, 0);
    reportFigure('offset-gaps', {
      committedTransactions: counts.committedTransactions,
      abortedTransactions: counts.abortedTransactions,
      recordsCommitted: counts.recordsCommitted,
      recordsAborted: counts.recordsAborted,
      offsetsNeverSeen: skipped,
      partitionsEndingOnMarker: PARTITIONS,
      abortedProjected: 0,
      parked: parkedCount,
      storedOffsetReachedLogEnd: true,
      rebuildsSwitched: rebuilt.length,
      singleOrderReplayFinished: true,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});

function encoded(row: OutboxRow): EncodedEvent {
  return encodeEnvelope(
    {
      eventId: row.event_id,
      type: row.type,
      schemaVersion: row.schema_version,
      streamId: row.order_id,
      version: row.version,
      occurredAt: row.occurred_at.toISOString(),
      data: row.data,
    },
    row.metadata,
  );
}

/** A plausible next event that no command decided: projected, it would cancel the order. */
function impostor(orderId: string, version: number): EncodedEvent {
  return encodeEnvelope(
    {
      eventId: randomUUID(),
      type: 'OrderCancelled',
      schemaVersion: 1,
      streamId: orderId,
      version,
      occurredAt: new Date().toISOString(),
      data: { reason: 'aborted, never to be seen' },
    },
    { correlationId: 'aborted', causationId: 'aborted' },
  );
}

async function logEnds(env: TestEnvironment): Promise<Map<number, number>> {
  const admin = env.kafka.admin();
  await admin.connect();
  try {
    return new Map(
      (await admin.fetchTopicOffsets(env.config.kafka.ordersTopic)).map(({ partition, high }) => [
        partition,
        Number(high),
      ]),
    );
  } finally {
    await admin.disconnect();
  }
}

/** How many (projection, partition) offsets the live generations stored equal the partition's log end. */
async function storedOffsetsAtLogEnd(env: TestEnvironment, ends: ReadonlyMap<number, number>): Promise<number> {
  const { rows } = await env.readDb.query<{ projection: string; partition: number; next_offset: string }>(
    'SELECT projection, partition, next_offset::text FROM projection_offsets WHERE topic = $1',
    [env.config.kafka.ordersTopic],
  );
  return rows.filter((row) => Number(row.next_offset) === ends.get(row.partition)).length;
}
