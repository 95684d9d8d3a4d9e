import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '@app/platform';

/** NOTIFYed by the order view projection in each transaction that changed order views (no payload). */
export const ORDER_VIEW_CHANGED_CHANNEL = 'order_view_changed';

/** While anyone waits, versions are also re-read this often: a listener connection can drop. */
const FALLBACK_POLL_MS = 100;

interface Waiter {
  readonly minVersion: number;
  done(reached: boolean): void;
}

/**
 * Readers waiting for an order's view to reach a version (`GET /orders/:id?minVersion=`), woken when
 * the projection commits: each commit NOTIFYs, and one query then reads the version of every order
 * waited on. A waiter sees its version within a round trip of the commit, however many wait, with no
 * polling while nobody waits (docs/benchmarks.md has the before and after).
 */
@Injectable()
export class OrderVersionWaits implements OnApplicationShutdown {
  private readonly logger = new Logger(OrderVersionWaits.name);
  private readonly waiting = new Map<string, Set<Waiter>>();
  private listener: Promise<pg.Client> | undefined;
  private checking = false;
  /** Counts wake-ups, so a check that a wake-up overlapped runs again. */
  private wakeUps = 0;
  private fallback: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  /** Resolves true once the order's view has reached `minVersion`, false after `timeoutMs`. */
  wait(orderId: string, minVersion: number, timeoutMs: number): Promise<boolean> {
    this.listen();
    return new Promise((resolve) => {
      const waiters = this.waiting.get(orderId) ?? new Set<Waiter>();
      this.waiting.set(orderId, waiters);
      const waiter: Waiter = {
        minVersion,
        done: (reached) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (waiters.size === 0) this.waiting.delete(orderId);
          if (this.waiting.size === 0) this.stopFallback();
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        waiter.done(false);
      }, timeoutMs);
      waiters.add(waiter);
      this.fallback ??= setInterval(() => {
        this.check();
      }, FALLBACK_POLL_MS);
      this.check(); // registered first, then checked: a commit in between is not missed
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.stopFallback();
    for (const waiters of [...this.waiting.values()]) for (const waiter of [...waiters]) waiter.done(false);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.then((client) => client.end()).catch(() => undefined);
  }

  /** Reads the versions of every order waited on, once at a time; a wake-up during a read reads again. */
  private check(): void {
    this.wakeUps++;
    if (this.checking) return;
    this.checking = true;
    void (async () => {
      try {
        let seen;
        do {
          seen = this.wakeUps;
          const ids = [...this.waiting.keys()];
          if (ids.length === 0) break;
          const rows: { order_id: string; version: number }[] = await this.dataSource.query(
            'SELECT order_id::text, version FROM order_view WHERE order_id = ANY($1::uuid[])',
            [ids],
          );
          for (const { order_id: orderId, version } of rows) {
            for (const waiter of [...(this.waiting.get(orderId) ?? [])])
              if (version >= waiter.minVersion) waiter.done(true);
          }
        } while (this.wakeUps !== seen);
      } catch (error) {
        this.logger.warn(
          `could not read order versions, retrying: ${error instanceof Error ? error.message : String(error)}`,
        );
      } finally {
        this.checking = false;
      }
    })();
  }

  /** Connects the LISTEN session on first use, and again after it drops (never after shutdown). */
  private listen(): void {
    if (this.listener || this.stopped) return;
    const listener = (async () => {
      const client = new pg.Client({
        connectionString: this.config.databaseUrl,
        application_name: 'query-api-version-listener',
      });
      // Only this session's own end forgets it: an old session's late 'end' must not drop a newer one.
      const drop = (): void => {
        if (this.listener === listener) this.listener = undefined;
        void client.end().catch(() => undefined);
      };
      client.on('error', drop);
      client.on('end', drop);
      client.on('notification', () => {
        this.check();
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${ORDER_VIEW_CHANGED_CHANNEL}`);
      } catch (error) {
        drop(); // the fallback poll serves until the next wait connects again
        throw error;
      }
      return client;
    })();
    this.listener = listener;
    listener.catch((error: unknown) => {
      this.logger.warn(
        `cannot listen for order view changes: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  }

  private stopFallback(): void {
    clearInterval(this.fallback);
    this.fallback = undefined;
  }
}
