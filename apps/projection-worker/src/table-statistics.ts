import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

import { analyzeTablesNeverAnalyzed, findLiveGeneration, type Projection } from '@app/projections';

/** How often the live generations are checked for tables that hold rows and have no statistics. */
const CHECK_EVERY_MS = 5_000;

/**
 * Makes sure every table of a live generation that holds rows has been analyzed once. Postgres plans
 * a table without statistics from guesses: a generation's `projection` column, one value in every
 * row, then looks as selective as a key, and the runner's stream states read scans the projection's
 * whole versions index (0.4 ms a call where 0.05 would do, docs/benchmarks.md). Autovacuum analyzes
 * new tables soon after their first rows; on a server where it is off, nothing else would.
 */
export class TableStatistics {
  private readonly logger = new Logger('TableStatistics');
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly projections: readonly Projection[],
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.checking ??= this.check().finally(() => (this.checking = undefined));
    }, CHECK_EVERY_MS).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
  }

  private async check(): Promise<void> {
    for (const projection of this.projections) {
      try {
        const live = await findLiveGeneration(this.dataSource.manager, projection.name);
        if (!live) continue;
        const analyzed = await analyzeTablesNeverAnalyzed(this.dataSource.manager, live.schemaName);
        if (analyzed.length > 0)
          this.logger.log(
            `${projection.name}: analyzed ${live.schemaName}.{${analyzed.join(', ')}}, which had no statistics`,
          );
      } catch (error) {
        // A switch may have dropped the generation meanwhile; the next check looks again.
        this.logger.warn(`${projection.name}: could not analyze its tables (${String(error)})`);
      }
    }
  }
}
