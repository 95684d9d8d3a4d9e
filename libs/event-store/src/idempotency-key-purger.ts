import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '@app/platform';

import { IdempotencyKeys } from './idempotency-keys.js';

const PURGE_BATCH = 10_000;

/** Deletes expired idempotency keys every IDEMPOTENCY_PURGE_INTERVAL_MS, in bounded batches. */
@Injectable()
export class IdempotencyKeyPurger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyKeyPurger.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(IdempotencyKeys) private readonly keys: IdempotencyKeys,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      void this.purge();
    }, this.config.idempotency.purgeIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Purges until no expired key is left; returns how many it deleted. */
  async purge(): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        const deleted = await this.keys.purgeExpired(this.dataSource.manager, PURGE_BATCH);
        total += deleted;
        if (deleted < PURGE_BATCH) break;
      }
    } catch (error) {
      this.logger.warn(
        `purging expired idempotency keys failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (total > 0) this.logger.log(`purged ${total} expired idempotency keys`);
    return total;
  }
}
