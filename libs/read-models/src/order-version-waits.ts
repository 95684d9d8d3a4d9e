import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';

import { APP_CONFIG, PipelinedSql, type AppConfig } from '@app/platform';

import type { OrderView } from './order-view.entity.js';
import { ORDER_VIEW_COLUMNS } from './order-view.columns.js';

/** NOTIFYed by the order view projection in each transaction that changed order views (no payload). */
export const ORDER_VIEW_CHANGED_CHANNEL = 'order_view_changed';

/** While anyone waits, versions are also re-read this often: a listener connection can drop. */
const FALLBACK_POLL_MS = 100;

interface Waiter {
  readonly minVersion: number;
  /** The view as the last read saw it (null: not projected yet); undefined until a read has run. */
  seen: OrderView | null | undefined;
  done(): void;
}

/** How a wait ended: with the view as last read (at `minVersion` or beyond when reached; possibly a poll old when not), or before any read. */
export type WaitOutcome =
  { readonly read: true; readonly reached: boolean; readonly view: OrderView | null } | { readonly read: false };

/**
 * Readers waiting for an order's view to reach a version (`GET /orders/:id?minVersion=`), woken when
 * the projection commits: each commit NOTIFYs, and one query then reads the views of every order
 * waited on. A waiter gets its view within a round trip of the commit, however many wait, with no
 * polling while nobody waits; a view already there is answered by the first read, which runs for all
 * the readers that arrived meanwhile (docs/benchmarks.md has the before and after).
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
    @Inject(PipelinedSql) private readonly sql: PipelinedSql,
  ) {}

  /** Resolves once the order's view has reached `minVersion`, or after `timeoutMs` with the view as last read. */
  wait(id: string, minVersion: number, timeoutMs: number): Promise<WaitOutcome> {
    this.listen();
    const orderId = id.toLowerCase(); // as Postgres spells a uuid, so the read's rows find their waiters
    return new Promise((resolve) => {
      const waiters = this.waiting.get(orderId) ?? new Set<Waiter>();
      this.waiting.set(orderId, waiters);
      const waiter: Waiter = {
        minVersion,
        seen: undefined,
        done: () => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (waiters.size === 0) this.waiting.delete(orderId);
          if (this.waiting.size === 0) this.stopFallback();
          const { seen } = waiter;
          resolve(
            seen === undefined
              ? { read: false }
              : { read: true, reached: (seen?.version ?? 0) >= minVersion, view: seen },
          );
        },
      };
      const timer = setTimeout(() => {
        waiter.done();
      }, timeoutMs);
      waiters.add(waiter);
      this.fallback ??= setInterval(() => {
        this.check();
      }, FALLBACK_POLL_MS);
      this.check(); // registered first, then read: a commit in between is not missed
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.stopFallback();
    for (const waiters of [...this.waiting.values()]) for (const waiter of [...waiters]) waiter.done();
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
          const rows: OrderView[] = await this.sql.query(
            `SELECT ${ORDER_VIEW_COLUMNS} FROM order_view WHERE order_id = ANY($1::uuid[])`,
            [ids],
          );
          const views = new Map(rows.map((view) => [view.orderId, view]));
          for (const orderId of ids) {
            const view = views.get(orderId) ?? null;
            for (const waiter of [...(this.waiting.get(orderId) ?? [])]) {
              waiter.seen = view;
              if ((view?.version ?? 0) >= waiter.minVersion) waiter.done();
            }
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
        connectionString: this.config.readDatabaseUrl,
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
