import { setTimeout as delay } from 'node:timers/promises';

import { Logger } from '@nestjs/common';

import {
  ProjectionRebuilder,
  RebuildAlreadyActive,
  RebuildRecords,
  findLiveGeneration,
  type Projection,
  type RebuildRecord,
  type ReplayContext,
} from '@app/projections';

const POLL_MS = 1_000;

/**
 * Runs rebuilds in the worker: those the admin API requested, and, at start, one for every
 * projection whose live generation an older version built (bumping `version` is how a projection
 * asks to be rebuilt). Several workers share the work: each claims a request with SKIP LOCKED, and
 * owns it through a session of its own until it ends (ADR 7).
 */
export class RebuildScheduler {
  private readonly logger = new Logger('RebuildScheduler');
  private readonly records: RebuildRecords;
  private readonly rebuilder: ProjectionRebuilder;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly context: ReplayContext,
    private readonly projections: readonly Projection[],
  ) {
    this.records = new RebuildRecords(context.dataSource);
    this.rebuilder = new ProjectionRebuilder(context);
  }

  async start(): Promise<void> {
    await this.requestVersionBumps();
    this.loop = this.run();
  }

  /** Cancels a rebuild in progress (its generation is dropped; a version bump is asked for again on the next start). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async requestVersionBumps(): Promise<void> {
    for (const projection of this.projections) {
      const live = await findLiveGeneration(this.context.dataSource.manager, projection.name);
      if (!live || live.version >= projection.version) {
        if (live && live.version > projection.version) {
          this.logger.warn(
            `${projection.name}: the live generation was built by version ${String(live.version)}, newer than this code's ${String(projection.version)}`,
          );
        }
        continue;
      }
      try {
        const rebuild = await this.records.request({
          projection: projection.name,
          version: projection.version,
          requestedBy: 'projection-worker',
          reason: `version ${String(live.version)} → ${String(projection.version)}`,
        });
        this.logger.log(
          `${projection.name}: version ${String(projection.version)} differs from the live generation's ${String(live.version)}: rebuild ${rebuild.id} requested`,
        );
      } catch (error) {
        if (!(error instanceof RebuildAlreadyActive)) throw error;
      }
    }
  }

  private async run(): Promise<void> {
    const onStart = (claimed: RebuildRecord): void => {
      this.logger.log(
        `rebuild ${claimed.id} of ${claimed.projection} started (requested by ${claimed.requestedBy}: ${claimed.reason})`,
      );
    };
    while (!this.stopping.signal.aborted) {
      try {
        const finished = await this.rebuilder.runNextRequested(this.projections, {
          signal: this.stopping.signal,
          onStart,
        });
        if (finished) {
          this.logger.log(
            `rebuild ${finished.id} of ${finished.projection}: ${finished.state}${finished.error ? ` (${finished.error})` : ''}`,
          );
          continue;
        }
      } catch (error) {
        this.logger.error(`rebuild scheduling failed: ${String(error)}`);
      }
      await delay(POLL_MS, undefined, { signal: this.stopping.signal }).catch(() => undefined); // an abort ends the wait
    }
  }
}
