import type { DataSource, EntityManager } from 'typeorm';

import { decodeEnvelope, type BatchHandler, type BatchOutcome, type EventEnvelope, type PartitionBatch } from '@app/messaging';

import type { Projection } from './projection.js';

/**
 * Applies a partition batch and stores the next offset in one Postgres transaction: the effect of
 * each event is exactly-once however often Kafka delivers it. The offset row is locked first, so a
 * stale member (its partition already taken over and applied further) sees the newer offset and
 * changes nothing.
 */
export class ProjectionRunner implements BatchHandler {
  constructor(
    private readonly dataSource: DataSource,
    readonly projection: Projection,
  ) {}

  async storedOffsets(topic: string, partitions: readonly number[]): Promise<ReadonlyMap<number, string>> {
    const rows: { partition: number; next_offset: string }[] = await this.dataSource.query(
      `SELECT partition, next_offset FROM projection_offsets
        WHERE projection = $1 AND topic = $2 AND partition = ANY($3::int[])`,
      [this.projection.name, topic, partitions],
    );
    return new Map(rows.map((row) => [row.partition, row.next_offset]));
  }

  handleBatch(batch: PartitionBatch): Promise<BatchOutcome> {
    return this.dataSource.transaction(async (db) => {
      const stored = await this.lockOffset(db, batch);
      const first = batch.records[0];
      if (first && BigInt(first.offset) > stored) {
        // Kafka resumed past what was applied (its committed offset is only advisory): read the gap.
        return { kind: 'rewind', offset: stored.toString() };
      }
      const fresh = batch.records.filter((record) => BigInt(record.offset) >= stored);
      const last = fresh.at(-1);
      if (!last) return { kind: 'applied', nextOffset: stored.toString() };

      const events = fresh.map((record) => decodeEnvelope(record.value, record.key)).filter((event) => this.handles(event));
      if (events.length > 0) await this.projection.apply(db, events);
      const nextOffset = (BigInt(last.offset) + 1n).toString();
      await db.query(
        `UPDATE projection_offsets SET next_offset = $4
          WHERE projection = $1 AND topic = $2 AND partition = $3 AND next_offset < $4`,
        [this.projection.name, batch.topic, batch.partition, nextOffset],
      );
      return { kind: 'applied', nextOffset };
    });
  }

  /** Reads the stored offset under a row lock, creating it at zero for a partition seen the first time. */
  private async lockOffset(db: EntityManager, batch: PartitionBatch): Promise<bigint> {
    const rows: { next_offset: string }[] = await db.query(
      `INSERT INTO projection_offsets AS o (projection, topic, partition, next_offset) VALUES ($1, $2, $3, 0)
       ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = o.next_offset
       RETURNING o.next_offset`,
      [this.projection.name, batch.topic, batch.partition],
    );
    const row = rows[0];
    if (!row) throw new Error('projection_offsets upsert returned no row');
    return BigInt(row.next_offset);
  }

  private handles(event: EventEnvelope): boolean {
    return (this.projection.handles as readonly string[]).includes(event.type);
  }
}
