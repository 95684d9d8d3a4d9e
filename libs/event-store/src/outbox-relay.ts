import { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import { Logger } from '@nestjs/common';
import pg from 'pg';

import { SpanKind, endSpans, startChildSpan, traceparentOf, tracingEnabled, type Span } from '@app/platform';

import {
  EventContractViolation,
  encodeEnvelope,
  type EventContract,
  type EventPublisher,
  type OutgoingRecord,
} from '@app/messaging';

import { OUTBOX_CHANNEL, toRecordedEvent, type EventRow } from './event-store.js';

export interface OutboxRelayOptions {
  readonly databaseUrl: string;
  readonly pollIntervalMs: number;
  readonly batchSize: number;
  /**
   * After publishing less than a full batch, read the outbox again no sooner than this long after the
   * last read began (default 0): under load, the next batch takes what committed meanwhile, in one
   * produce request, instead of a read and a request per commit. The first event after a quiet spell
   * still goes at once. Kafka's producer `linger.ms`, one step earlier.
   */
  readonly lingerMs?: number;
  /**
   * What may be published: an event that breaks a schema version this relay knows is refused (it
   * and the later events of its stream stay in the outbox), never sent. A version or type newer than
   * the relay knows was checked by the newer writer that appended it, and goes out as stored.
   */
  readonly contract: EventContract;
  /** The topic the publisher writes to, named on the relay's spans. */
  readonly topic?: string;
  /**
   * The leader starts publishing a batch only if the read that fetched it was sent less than this
   * long ago. Postgres is asked to drop a silent leader session only after at least twice this, so a
   * relay whose session died unnoticed stops before another relay can take the lock (ADR 1).
   */
  readonly leaseMs: number;
  /** Runs once the relay is leader and before it publishes, e.g. to create the topic. Retried on failure. */
  readonly prepare?: () => Promise<void>;
  /** Told how many events each batch published, e.g. for a metric. */
  readonly published?: (count: number) => void;
  /** Told, after each batch, how many events the relay is refusing, e.g. for an alerting gauge. */
  readonly refused?: (count: number) => void;
  /** Told when this relay becomes the leader (true) and when it stops leading (false). */
  readonly leadership?: (leading: boolean) => void;
}

/** Where the relay publishes: an EventPublisher, or anything that wraps one. */
export type RecordPublisher = Pick<EventPublisher, 'publish' | 'close'>;

/** Any constant works: every relay of this database must use the same one. */
export const RELAY_LOCK_ID = 7_243_002;
const MAX_BACKOFF_MS = 5_000;
/** Unanswered keepalive probes after which Postgres drops the leader session. */
const KEEPALIVE_PROBES = 3;
/**
 * Recording a published batch may wait on row locks (an operator's SELECT … FOR UPDATE). It publishes
 * nothing, so it is not bound by the lease; a late DELETE only costs the batch being sent again.
 */
const RECORD_TIMEOUT_MS = 30_000;

/**
 * Oldest first, past the events held back (refused, or behind a refused one of their stream). The
 * batch's positions first, then their events by key: as a join, a plan made from poor estimates (a
 * database never analyzed) merge-joined the outbox with every event from the first.
 */
const READ_BATCH = `SELECT e.position, e.event_id, e.order_id, e.version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at
  FROM events e
 WHERE e.position = ANY (ARRAY(SELECT o.position FROM outbox o WHERE o.position <> ALL($2::bigint[]) ORDER BY o.position LIMIT $1))
 ORDER BY e.position`;

/** How long held-back events are skipped before they are read and checked again (an operator may have fixed them). */
const HOLD_MS = 10_000;

/** The leader's connection, and the socket under it so that a failed session can be cut at once. */
interface LeaderSession {
  readonly client: pg.Client;
  readonly socket: Socket;
}

/**
 * Publishes committed events from the outbox to Kafka in position order, then deletes them.
 *
 * One relay per database is active: leadership is a session-level advisory lock held on a dedicated
 * connection, and the leader reads and deletes the outbox over that same connection, so a relay whose
 * session died can neither read a new batch nor record one. A crashed leader's lock is freed by
 * Postgres and a standby takes over. Delivery is at-least-once (a crash between the broker's ack and
 * the delete publishes again); consumers dedupe on (stream id, version).
 */
export class OutboxRelay {
  private readonly logger = new Logger(OutboxRelay.name);
  private readonly wakeUp = new WakeUp();
  private running: Promise<void> | undefined;
  private leader: LeaderSession | undefined;
  /** Errors since the last batch that went through; sets the backoff. */
  private failures = 0;
  /** Events held back, skipped by the reads until `heldUntil`; then all are checked again. */
  private held: string[] = [];
  private heldUntil = 0;
  /** Of the held events, how many the contract refused (the others wait behind them). */
  private refused = 0;
  /** The streams of the refused events: their later events, read while those are skipped, are held too. */
  private blocked = new Set<string>();
  /** Aborted by stop, which ends a linger under way at once; made again by a start after a stop. */
  private stopping = new AbortController();
  /** The stop under way, until it has closed the publisher. */
  private stopCall: Promise<void> | undefined;

  constructor(
    private readonly publisher: RecordPublisher,
    private readonly options: OutboxRelayOptions,
  ) {}

  /** Whether this relay holds the leader lock (and so is the one publishing). */
  get isLeader(): boolean {
    return this.leader !== undefined;
  }

  /** Publishes soon: an append has committed in this process (see EventStore.useLocalRelay). */
  wake(): void {
    this.wakeUp.fire();
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Starts publishing (again, after a stop that has resolved); a start while a stop is under way throws. */
  start(): void {
    // The stopping run would take the new start for its own and go on, and that stop never return;
    // or, once the run has ended, the new one would publish through a publisher being closed.
    if (this.stopCall !== undefined)
      throw new Error('the outbox relay is stopping: start it again once stop() has resolved');
    if (this.stopped) this.stopping = new AbortController();
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  /** Stops publishing, resigns the lead and closes the publisher; calls while one is under way share it. */
  stop(): Promise<void> {
    this.stopCall ??= this.stopRunning().finally(() => (this.stopCall = undefined));
    return this.stopCall;
  }

  private async stopRunning(): Promise<void> {
    this.stopping.abort();
    this.wakeUp.fire();
    await this.running;
    await this.publisher.close();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (await this.becomeLeader()) {
          await this.options.prepare?.();
          await this.publishWhileLeader();
        }
        this.failures = 0;
      } catch (error) {
        // Still leading: Kafka or prepare failed, so retry after a backoff. Otherwise the session
        // failed, loseLeadership said so, and this relay stands by like any other.
        if (this.leader) {
          await this.backOff(error);
          continue;
        }
      }
      await this.standBy();
    }
    await this.resign();
  }

  /**
   * Drains the outbox, then sleeps until a commit notifies or the poll interval passes; after a
   * partial batch, not before the linger is over (commits meanwhile are kept by the wake-up).
   */
  private async publishWhileLeader(): Promise<void> {
    for (let session = this.leader; session && !this.stopped; session = this.leader) {
      const began = performance.now();
      const published = await this.publishBatch(session);
      this.failures = 0; // the broker answers again: the next outage starts from the shortest backoff
      if (published >= this.options.batchSize) continue;
      if (published > 0) await this.linger((this.options.lingerMs ?? 0) - (performance.now() - began));
      await this.wakeUp.wait(this.options.pollIntervalMs); // at once if a commit (or stop) fired meanwhile
    }
  }

  /** Resolves after `ms` (at once for none), or when the relay stops. */
  private async linger(ms: number): Promise<void> {
    if (ms <= 0 || this.stopped) return;
    await delay(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  /** Publishes one batch read over the leader session; returns how many events it published. */
  private async publishBatch(session: LeaderSession): Promise<number> {
    const sentAt = performance.now();
    // Named: prepared once per session, not parsed and planned for every batch.
    const { rows } = await this.onSession(session, (client) =>
      client.query<EventRow>({
        name: 'relay-read-batch',
        text: READ_BATCH,
        values: [this.options.batchSize, this.skipped()],
      }),
    );
    if (rows.length === 0) return 0;
    const age = performance.now() - sentAt;
    if (age >= this.options.leaseMs)
      this.loseLeadership(session, new Error(`lease expired: the batch was read ${Math.round(age)} ms ago`));
    const { publishable, held } = this.screen(rows);
    // Checked in the same turn as the send starts: a relay that knows it lost the lock sends nothing more.
    if (this.leader !== session) return 0;
    if (publishable.length > 0) {
      const spans = publishable.map((row) => this.publishSpan(row));
      try {
        await this.publisher.publish(publishable.map((row, index) => relayRecord(row, spans[index])));
      } catch (error) {
        endSpans(spans, error);
        throw error;
      }
      endSpans(spans); // acknowledged by the broker
      // pg honours a per-query query_timeout; its types leave it out, hence the variable.
      const record = {
        name: 'relay-record-batch',
        text: 'DELETE FROM outbox WHERE position = ANY($1::bigint[])',
        values: [publishable.map((row) => row.position)],
        query_timeout: RECORD_TIMEOUT_MS,
      };
      await this.onSession(session, (client) => client.query(record));
      this.options.published?.(publishable.length);
    }
    // Held events count as read: a batch of them alone still means "read again at once".
    return publishable.length + held;
  }

  /**
   * A span for one event's publish, the child of the traceparent its outbox row holds (the command's
   * transaction): the batch is published long after that request's context is gone, and mixes many
   * traces. Its own traceparent goes on the record's header, for the projections.
   */
  private publishSpan(row: EventRow): Span | undefined {
    if (!tracingEnabled()) return undefined; // before building the attributes: off, a batch costs nothing more
    return startChildSpan(
      `publish ${this.options.topic ?? 'events'}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          ...(this.options.topic && { 'messaging.destination.name': this.options.topic }),
          'messaging.kafka.message.key': row.order_id,
          'event.id': row.event_id,
          'event.type': row.type,
          'event.version': row.version,
        },
      },
      row.metadata.traceparent,
    );
  }

  /** The held-back positions the next read skips; none once the hold has passed, so all are checked again. */
  private skipped(): string[] {
    if (Date.now() >= this.heldUntil) {
      this.held = [];
      this.refused = 0;
      this.blocked = new Set();
    }
    return this.held;
  }

  /**
   * Splits a batch into what may be published and what is held back: an event that breaks a schema
   * version the relay knows (a bug: said at error level), and every later event of its stream, so
   * that no consumer sees a stream out of order. Other streams go on.
   */
  private screen(rows: readonly EventRow[]): { publishable: EventRow[]; held: number } {
    const blocked = this.blocked;
    const publishable: EventRow[] = [];
    const holding = this.held.length > 0;
    let held = 0;
    for (const row of rows) {
      const reason = blocked.has(row.order_id) ? undefined : this.refusal(row);
      if (!blocked.has(row.order_id) && reason === undefined) {
        publishable.push(row);
        continue;
      }
      if (reason !== undefined) {
        this.refused++;
        blocked.add(row.order_id);
        this.logger.error(
          `outbox event ${row.event_id} (position ${row.position}, ${row.order_id} version ${String(row.version)}) ` +
            `breaks the event contract and is not published: ${reason}. It and the later events of its stream stay ` +
            'in the outbox until the row is fixed; other streams go on.',
        );
      }
      held++;
      this.held.push(row.position);
    }
    // From the first event held, not the last: events queuing behind a refused one never postpone its recheck.
    if (!holding && held > 0) this.heldUntil = Date.now() + HOLD_MS;
    this.options.refused?.(this.refused);
    return { publishable, held };
  }

  /** Why the contract refuses this event, or undefined: it matches, or it is newer than this relay knows. */
  private refusal(row: EventRow): string | undefined {
    try {
      return this.options.contract.problems(row.type, row.schema_version, row.data);
    } catch (error) {
      if (!(error instanceof EventContractViolation)) throw error;
      if (error.kind === 'invalid') return error.message;
      // Written by a newer deployment, which checked it: ours to deliver, not to judge.
      return undefined;
    }
  }

  /** A query on the leader session; any failure (an error, a timeout, a dead connection) ends the leadership. */
  private async onSession<T>(session: LeaderSession, query: (client: pg.Client) => Promise<T>): Promise<T> {
    try {
      return await query(session.client);
    } catch (error) {
      this.loseLeadership(session, error);
      throw error;
    }
  }

  private async becomeLeader(): Promise<boolean> {
    if (this.leader) return true;
    const session = this.openSession();
    try {
      await session.client.connect();
      const { rows } = await session.client.query<{ leader: boolean }>('SELECT pg_try_advisory_lock($1) AS leader', [
        RELAY_LOCK_ID,
      ]);
      if (!rows[0]?.leader) {
        await this.closeSession(session);
        return false;
      }
      session.client.on('notification', () => {
        this.wakeUp.fire();
      });
      await session.client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      session.socket.destroy(); // never keep a lock this relay cannot use
      this.logger.warn(`outbox relay cannot reach Postgres to lead: ${messageOf(error)}`);
      return false;
    }
    this.leader = session;
    this.options.leadership?.(true);
    this.logger.log('outbox relay is the leader');
    return true;
  }

  private openSession(): LeaderSession {
    const socket = new Socket();
    const client = new pg.Client({
      ...leaderSessionConfig(this.options.databaseUrl, this.options.leaseMs),
      stream: () => socket,
    });
    const session = { client, socket };
    client.on('error', (error) => {
      this.loseLeadership(session, error);
    });
    client.on('end', () => {
      this.loseLeadership(session);
    });
    return session;
  }

  /**
   * Stops leading at once. The socket is cut rather than ended politely: a dead network would never
   * answer, and if Postgres still holds the session, closing it frees the lock.
   */
  private loseLeadership(session: LeaderSession, reason?: unknown): void {
    session.socket.destroy();
    if (this.leader !== session) return;
    this.leader = undefined;
    this.options.leadership?.(false);
    this.wakeUp.fire();
    if (!this.stopped)
      this.logger.warn(`outbox relay lost its leader session${reason === undefined ? '' : `: ${messageOf(reason)}`}`);
  }

  /** Ends a healthy session politely, or cuts it when Postgres does not answer within the lease. */
  private async closeSession(session: LeaderSession): Promise<void> {
    const cut = setTimeout(() => session.socket.destroy(), this.options.leaseMs);
    await session.client.end().catch(() => undefined);
    clearTimeout(cut);
  }

  private async backOff(error: unknown): Promise<void> {
    this.failures++;
    const backoff = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.failures);
    this.logger.warn(`relay error, retrying in ${backoff} ms: ${messageOf(error)}`);
    await this.wakeUp.wait(backoff);
  }

  /**
   * Waits before trying for the lock again; only stop() ends the wait early. A relay that just lost
   * its session waits too, so that a standby gets its turn rather than racing the same relay back.
   */
  private async standBy(): Promise<void> {
    if (this.stopped) return;
    this.wakeUp.clear();
    await this.wakeUp.wait(this.options.pollIntervalMs * 4);
  }

  private async resign(): Promise<void> {
    const session = this.leader;
    if (!session) return;
    this.leader = undefined;
    this.options.leadership?.(false);
    await this.closeSession(session); // ending the session frees the advisory lock
  }
}

/**
 * How the relay connects for leadership. Postgres is asked to drop the connection after
 * `serverPatienceMs` (at least twice the lease) with no answer from the relay: keepalive probes when
 * the connection is idle, tcp_user_timeout when it has unacknowledged data in flight (a NOTIFY). The
 * relay notices a dead network sooner: every query of its times out at half the lease. Client
 * keepalives (with the operating system's probe interval) also cover a session left idle.
 */
export function leaderSessionConfig(
  databaseUrl: string,
  leaseMs: number,
): pg.ClientConfig & { serverPatienceMs: number } {
  const idleS = Math.ceil(leaseMs / 1_000);
  const intervalS = Math.ceil(leaseMs / (1_000 * KEEPALIVE_PROBES));
  const serverPatienceMs = (idleS + KEEPALIVE_PROBES * intervalS) * 1_000;
  const settings = [
    `-c tcp_keepalives_idle=${idleS}`,
    `-c tcp_keepalives_interval=${intervalS}`,
    `-c tcp_keepalives_count=${KEEPALIVE_PROBES}`,
    `-c tcp_user_timeout=${serverPatienceMs}`,
    // Its one write is the DELETE of what Kafka acknowledged: a crash of Postgres that loses it only
    // has those events published again (at-least-once, as after a crash of the relay), so its commit
    // need not wait for the WAL to reach the disk.
    '-c synchronous_commit=off',
    // The outbox is a queue, empty most of the time and a backlog of millions after an outage, and the
    // events table only grows: a generic plan made for one size is wrong for another, and without
    // statistics (autovacuum off, or not yet run) Postgres keeps the one it made while they were small.
    // So the read is planned for each batch, from the tables' sizes then.
    '-c plan_cache_mode=force_custom_plan',
  ].join(' ');
  // Set in the URL: pg lets the connection string's parameters win over the config object's.
  const url = new URL(databaseUrl);
  url.searchParams.set('options', [url.searchParams.get('options'), settings].filter(Boolean).join(' '));
  url.searchParams.set('application_name', 'outbox-relay');
  return {
    connectionString: url.toString(),
    keepAlive: true,
    keepAliveInitialDelayMillis: leaseMs,
    query_timeout: Math.floor(leaseMs / 2),
    connectionTimeoutMillis: leaseMs,
    serverPatienceMs,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The record the relay publishes for a stored event; traced, its `traceparent` header names the
 * publish span. Change data capture must publish the same bytes (captureRecord).
 */
export function relayRecord(row: EventRow, span?: Span): OutgoingRecord {
  const recorded = toRecordedEvent(row);
  return encodeEnvelope(
    {
      eventId: recorded.eventId,
      type: recorded.event.type,
      schemaVersion: recorded.schemaVersion,
      streamId: recorded.streamId,
      version: recorded.version,
      occurredAt: recorded.occurredAt.toISOString(),
      data: recorded.event.data,
    },
    span ? { ...recorded.metadata, traceparent: traceparentOf(span) } : recorded.metadata,
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

  /** Forgets a fire kept for the next wait. */
  clear(): void {
    this.pending = false;
  }
}
