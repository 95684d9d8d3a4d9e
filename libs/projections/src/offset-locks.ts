import type { SqlSession } from './sql-session.js';

/** A partition of a topic, as projection_offsets keys it. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** One text per (topic, partition), for maps and sets. */
export function partitionKey({ topic, partition }: TopicPartition): string {
  return `${String(partition)}/${topic}`;
}

/**
 * Locks the projection's offset rows of these partitions for the caller's transaction, creating them
 * at zero for partitions seen the first time, and returns their stored offsets by partitionKey. One
 * statement, locking in (topic, partition) order, whoever calls it (a projection's batches, a retry or
 * discard of parked events): two transactions that lock some of the same partitions wait, never deadlock.
 */
export async function lockOffsets(
  db: SqlSession,
  projection: string,
  partitions: readonly TopicPartition[],
): Promise<ReadonlyMap<string, bigint>> {
  const unique = [
    ...new Map(
      partitions.map(({ topic, partition }) => [partitionKey({ topic, partition }), { topic, partition }]),
    ).values(),
  ];
  unique.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  const rows: { topic: string; partition: number; next_offset: string }[] = await db.query(
    `INSERT INTO projection_offsets AS o (projection, topic, partition, next_offset)
     SELECT $1, t.topic, t.partition, 0 FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS t(topic, partition, n) ORDER BY t.n
     ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = o.next_offset
     RETURNING o.topic, o.partition, o.next_offset`,
    [projection, unique.map((key) => key.topic), unique.map((key) => key.partition)],
  );
  return new Map(rows.map((row) => [partitionKey(row), BigInt(row.next_offset)]));
}
