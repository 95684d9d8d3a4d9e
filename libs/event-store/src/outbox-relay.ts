import { Logger } from '@nestjs/common';
import pg from 'pg';
import type { DataSource } from 'typeorm';

import { encodeEnvelope, type EventPublisher, type OutgoingRecord } from '@app/messaging';

import { OUTBOX_CHANNEL, toRecordedEvent, type EventRow } from './event-store.js';

export interface OutboxRelayOptions {
  readonly databaseUrl: string;
  readonly pollIntervalMs: number;
  readonly batchSize: number;
  /** Runs once the relay is leader and before it publishes, e.g. to create the topic. Retried on failure. */
  readonly prepare?: () => Promise<void>;
  /** Told how many events each batch published, e.g. for a metric. */
  readonly published?: (count: number) => void;
}

/** Any constant works: every relay of this database must use the same one. */
const RELAY_LOCK_ID = 7_243_002;
const MAX_BACKOFF_MS = 5_000;

/**
 * Publishes committed events from the outbox to Kafka in position order, then deletes them.
 *
 * One relay per database is active: leadership is a session-level advisory lock held on a dedicated
 * connection, so a crashed leader's lock is freed by Postgres and a standby takes over. Delivery is
 * at-least-once (a crash between the broker's ack and the delete publishes again); consumers dedupe
 * on (orderId, version).
 */
export class OutboxRelay {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly wakeUp = new WakeUp();
  private stopped = false;
  private running: Promise<void> | undefined;
  private session: pg.Client | undefined;
  /** Errors since the last batch that went through; sets the backoff. */
  private failures = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly publisher: EventPublisher,
    private readonly options: OutboxRelayOptions,
  ) {}

  /** Whether this relay holds the leader lock (and so is the one publishing). */
  get isLeader(): boolean {
    return this.session !== undefined;
  }

  /** Publishes soon: an append has committed in this process (see EventStore.useLocalRelay). */
  wake(): void {
    this.wakeUp.fire();
  }

  start(): void {
    this.stopped = false;
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp.fire();
    await this.running;
    await this.publisher.close();
  }

  /** Publishes one batch; returns how many events it published. Exposed for tests and tools. */
  async publishBatch(): Promise<number> {
    const rows: EventRow[] = await this.dataSource.query(
      `SELECT e.position, e.event_id, e.order_id, e.version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at
         FROM outbox o JOIN events e ON e.position = o.position
        ORDER BY o.position
        LIMIT $1`,
      [this.options.batchSize],
    );
    if (rows.length === 0) return 0;
    await this.publisher.publish(rows.map(toRecord));
    await this.dataSource.query('DELETE FROM outbox WHERE position = ANY($1::bigint[])', [rows.map((row) => row.position)]);
    this.options.published?.(rows.length);
    return rows.length;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (await this.becomeLeader()) {
          await this.options.prepare?.();
          await this.publishWhileLeader();
        } else {
          await this.wakeUp.wait(this.options.pollIntervalMs * 4);
        }
        this.failures = 0;
      } catch (error) {
        this.failures++;
        const backoff = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.failures);
        this.logger.warn(`relay error, retrying in ${backoff} ms: ${error instanceof Error ? error.message : String(error)}`);
        await this.wakeUp.wait(backoff);
      }
    }
    await this.resign();
  }

  /** Drains the outbox, then sleeps until a commit notifies or the poll interval passes. */
  private async publishWhileLeader(): Promise<void> {
    while (!this.stopped && this.session) {
      const published = await this.publishBatch();
      this.failures = 0; // the broker answers again: the next outage starts from the shortest backoff
      if (published < this.options.batchSize) await this.wakeUp.wait(this.options.pollIntervalMs);
    }
  }

  private async becomeLeader(): Promise<boolean> {
    if (this.session) return true;
    const session = new pg.Client({ connectionString: this.options.databaseUrl, application_name: 'outbox-relay' });
    session.on('error', (error) => {
      this.loseLeadership(session, error);
    });
    session.on('end', () => {
      this.loseLeadership(session);
    });
    try {
      await session.connect();
      const { rows } = await session.query<{ leader: boolean }>('SELECT pg_try_advisory_lock($1) AS leader', [RELAY_LOCK_ID]);
      if (!rows[0]?.leader) {
        await session.end();
        return false;
      }
      session.on('notification', () => {
        this.wakeUp.fire();
      });
      await session.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      await session.end().catch(() => undefined); // never keep a lock this relay cannot use
      throw error;
    }
    this.session = session;
    this.logger.log('outbox relay is the leader');
    return true;
  }

  private loseLeadership(session: pg.Client, error?: Error): void {
    if (this.session !== session) return;
    this.session = undefined;
    this.wakeUp.fire();
    if (!this.stopped) this.logger.warn(`outbox relay lost its leader session${error ? `: ${error.message}` : ''}`);
  }

  private async resign(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.end().catch(() => undefined); // ending the session frees the advisory lock
  }
}

function toRecord(row: EventRow): OutgoingRecord {
  const recorded = toRecordedEvent(row);
  return encodeEnvelope(
    {
      eventId: recorded.eventId,
      type: recorded.event.type,
      schemaVersion: recorded.schemaVersion,
      orderId: recorded.orderId,
      version: recorded.version,
      occurredAt: recorded.occurredAt.toISOString(),
      data: recorded.event.data,
    },
    recorded.metadata,
  );
}

/** A wait that ends early when fired: NOTIFY, a lost session, or stop. */
class WakeUp {
  private readonly waiters = new Set<() => void>();
  /** A fire with nobody waiting (a NOTIFY during a publish) is kept for the next wait. */
  private pending = false;

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  fire(): void {
    if (this.waiters.size === 0) this.pending = true;
    for (const done of [...this.waiters]) done();
  }
}
