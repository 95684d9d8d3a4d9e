import type { DataSource } from 'typeorm';

import type { Projection } from '../projection.js';
import { RebuildRecords, type RebuildRecord } from './rebuild-records.js';

export interface PartitionStatus {
  readonly partition: number;
  /** The next offset the live generation will apply. */
  readonly nextOffset: number;
  readonly logEnd: number | null;
  readonly lag: number | null;
}

export interface ProjectionStatus {
  readonly name: string;
  /** The version in this code; a live generation built by an older one is rebuilt by the worker on start. */
  readonly version: number;
  readonly generation: number | null;
  /** The version that built the live generation. */
  readonly generationVersion: number | null;
  readonly schema: string | null;
  readonly builtAt: string | null;
  /** `live`; `rebuild-requested` or `rebuilding` while a rebuild is under way; `missing` without a generation. */
  readonly state: 'live' | 'rebuild-requested' | 'rebuilding' | 'missing';
  readonly lag: number | null;
  readonly parkedEvents: number;
  readonly offsets: readonly PartitionStatus[];
  readonly lastRebuild: RebuildRecord | null;
}

/** What operators see of each projection: its live generation, where it stands in the log, and its rebuilds. */
export async function projectionStatuses(
  dataSource: DataSource,
  projections: readonly Projection[],
  topic: string,
  logEnd: ReadonlyMap<number, string> | undefined,
): Promise<ProjectionStatus[]> {
  const records = new RebuildRecords(dataSource);
  const generations: {
    projection: string;
    generation: number;
    version: number;
    schema_name: string;
    built_at: string;
  }[] = await dataSource.query(
    `SELECT projection, generation, version, schema_name, to_json(built_at)#>>'{}' AS built_at FROM projection_generations`,
  );
  const offsets: { projection: string; partition: number; next_offset: string }[] = await dataSource.query(
    'SELECT projection, partition, next_offset FROM projection_offsets WHERE topic = $1 ORDER BY partition',
    [topic],
  );
  const parked: { projection: string; n: number }[] = await dataSource.query(
    'SELECT projection, count(*)::int AS n FROM parked_events GROUP BY projection',
  );

  return Promise.all(
    projections.map(async (projection): Promise<ProjectionStatus> => {
      const live = generations.find((row) => row.projection === projection.name);
      const stored = new Map(
        offsets
          .filter((row) => row.projection === projection.name)
          .map((row) => [row.partition, Number(row.next_offset)]),
      );
      const partitions = [...new Set([...stored.keys(), ...(logEnd?.keys() ?? [])])].sort((a, b) => a - b);
      const partitionStatuses = partitions.map((partition): PartitionStatus => {
        const nextOffset = stored.get(partition) ?? 0;
        const end = logEnd?.get(partition);
        return {
          partition,
          nextOffset,
          logEnd: end === undefined ? null : Number(end),
          lag: end === undefined ? null : Math.max(0, Number(end) - nextOffset),
        };
      });
      const lastRebuild = (await records.latest(projection.name)) ?? null;
      const rebuilding =
        lastRebuild?.state === 'running'
          ? 'rebuilding'
          : lastRebuild?.state === 'requested'
            ? 'rebuild-requested'
            : undefined;
      return {
        name: projection.name,
        version: projection.version,
        generation: live?.generation ?? null,
        generationVersion: live?.version ?? null,
        schema: live?.schema_name ?? null,
        builtAt: live?.built_at ?? null,
        state: live ? (rebuilding ?? 'live') : 'missing',
        lag: logEnd ? partitionStatuses.reduce((sum, { lag }) => sum + (lag ?? 0), 0) : null,
        parkedEvents: parked.find((row) => row.projection === projection.name)?.n ?? 0,
        offsets: partitionStatuses,
        lastRebuild,
      };
    }),
  );
}
