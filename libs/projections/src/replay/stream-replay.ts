import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

import { BatchConsumer, type BatchOutcome, type PartitionBatch } from '@app/messaging';

import { ProjectionRunner } from '../projection-runner.js';
import type { Projection } from '../projection.js';
import type { SourcedRecord } from '../sequence.js';
import { highWaterMarks, type ReplayContext } from './projection-rebuilder.js';

export class StreamReplayUnsupported extends Error {
  constructor(projection: string) {
    // In the operators' words, orders: the replay CLI prints it and its tests match it.
    super(`${projection} sums many orders per row, so one order's events cannot repair it: rebuild it whole instead`);
    this.name = 'StreamReplayUnsupported';
  }
}

export class StreamNotInLog extends Error {
  constructor(streamId: string, topic: string, partition: number) {
    super(
      `stream ${streamId} has no events on ${topic} partition ${String(partition)}, where its key belongs: nothing to replay`,
    );
    this.name = 'StreamNotInLog';
  }
}

export interface StreamReplayOutcome {
  readonly projection: string;
  readonly streamId: string;
  readonly partition: number;
  /** Records of the partition read to find the stream's events. */
  readonly recordsRead: number;
  readonly eventsApplied: number;
  readonly stillParked: number;
}

/** Where the stream's partition stands: the first offset not read yet, and the stream's records so far. */
class StreamCollector {
  readonly records: SourcedRecord[] = [];
  position = 0;

  constructor(
    private readonly streamId: string,
    private readonly partition: number,
  ) {}

  /** How far the collection has read (0 at the start): what the consumer resumes from and checks its position against. */
  storedOffsets(): Promise<ReadonlyMap<number, string>> {
    return Promise.resolve(new Map([[this.partition, String(this.position)]]));
  }

  handleBatch(batch: PartitionBatch): Promise<BatchOutcome> {
    for (const record of batch.records) {
      // Read again (a rejoin may resume from Kafka's committed offset before the seek): collected already.
      if (Number(record.offset) < this.position) continue;
      if (record.key?.toString('utf8') === this.streamId)
        this.records.push({ ...record, topic: batch.topic, partition: batch.partition });
    }
    // The fetch's last offset, not the last record's: a transaction marker may end the partition.
    this.position = Math.max(this.position, Number(batch.lastOffset) + 1);
    return Promise.resolve({ kind: 'applied', nextOffset: String(this.position) });
  }
}

/**
 * Replays one stream into the live generation: reads the one partition its key maps to (the
 * producer's partitioner), then, in one transaction that holds that partition's offset row so the
 * worker waits, removes what the projection holds for the stream and applies the stream's events up
 * to where the live generation stands. No other stream's rows are touched.
 */
export async function replayStream(
  context: ReplayContext,
  projection: Projection,
  streamId: string,
): Promise<StreamReplayOutcome> {
  if (!projection.forgetStream) throw new StreamReplayUnsupported(projection.name);
  const forgetStream = projection.forgetStream.bind(projection);
  const { partition } = await context.kafka.partitionOf(context.topic, streamId);
  const logEnd = (await highWaterMarks(context))[String(partition)] ?? 0;
  if (logEnd === 0) throw new StreamNotInLog(streamId, context.topic, partition);

  const collector = new StreamCollector(streamId, partition);
  const groupId = `${context.groupPrefix}replay.${projection.name}.order.${randomUUID()}`;
  let fatal: Error | undefined;
  const consumer = new BatchConsumer(
    context.kafka,
    { groupId, topic: context.topic, fetch: 'bulk', partitions: [partition], onFatalError: (error) => (fatal = error) },
    collector,
  );
  const runner = new ProjectionRunner(context.dataSource, projection);
  await consumer.start();
  try {
    let readTo = logEnd;
    for (;;) {
      while (collector.position < readTo) {
        if (fatal) throw fatal;
        await delay(20);
      }
      if (collector.records.length === 0) throw new StreamNotInLog(streamId, context.topic, partition);
      // The worker may have applied past what was read: then read on to there, and try again.
      const outcome = await runner.transaction(async (db) => {
        const rows: { next_offset: string }[] = await db.query(
          'SELECT next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2 AND partition = $3 FOR UPDATE',
          [projection.name, context.topic, partition],
        );
        const applied = Number(rows[0]?.next_offset ?? 0);
        if (applied > collector.position) return applied;
        await forgetStream(db, streamId);
        await db.query('DELETE FROM projection_order_versions WHERE projection = $1 AND order_id = $2', [
          projection.name,
          streamId,
        ]);
        await db.query('DELETE FROM parked_events WHERE projection = $1 AND order_id = $2', [
          projection.name,
          streamId,
        ]);
        const records = collector.records.filter((record) => Number(record.offset) < applied);
        return runner.applyRecords(db, records);
      });
      if (typeof outcome === 'number') {
        readTo = outcome;
        continue;
      }
      return {
        projection: projection.name,
        streamId,
        partition,
        recordsRead: collector.position,
        eventsApplied: outcome.applied,
        stillParked: outcome.parked.length,
      };
    }
  } finally {
    await consumer.stop();
    await context.kafka.deleteGroups([groupId]);
  }
}
