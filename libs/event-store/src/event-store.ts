import { Inject, Injectable, Optional } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';

import { MAX_RECORD_BYTES, type DomainEvent } from '@app/messaging';
import {
  APP_CONFIG,
  PipelinedSql,
  currentTraceparent,
  describeCurrentSpan,
  inSpan,
  isPgError,
  isPipelined,
  lockThenRead,
  type AppConfig,
  type PipelinedSession,
  type SqlSession,
} from '@app/platform';

import { captureRecord } from './capture-record.js';
import { CommitOutcomeUnknown, GroupCommit, type GroupCommitOptions, type GroupedWork } from './group-commit.js';

export type { DomainEvent };

/** Where an event came from; travels to Kafka as headers. */
export interface EventMetadata {
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent?: string | undefined;
  readonly idempotencyKey?: string | undefined;
}

export interface NewEvent<E extends DomainEvent = DomainEvent> {
  readonly eventId: string;
  readonly schemaVersion: number;
  readonly event: E;
  readonly occurredAt: Date;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent<E extends DomainEvent = DomainEvent> extends NewEvent<E> {
  readonly position: string;
  readonly streamId: string;
  readonly version: number;
}

/** Another writer appended to the stream first: the caller's view of it is stale. */
export class ConcurrencyConflict extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
  ) {
    super(`stream ${streamId} is no longer at version ${expectedVersion}`);
    this.name = 'ConcurrencyConflict';
  }
}

/** An event whose record would exceed Kafka's limit: refused at append, so it is never stuck in the outbox. */
export class EventTooLarge extends Error {
  constructor(
    readonly type: string,
    readonly bytes: number,
  ) {
    super(`a ${type} event of ${bytes} bytes exceeds the ${EVENT_DATA_LIMIT_BYTES}-byte limit`);
    this.name = 'EventTooLarge';
  }
}

/** Room left for the envelope fields and headers around the event data in one Kafka record. */
export const EVENT_DATA_LIMIT_BYTES = MAX_RECORD_BYTES - 16_384;

/** The first key of per-stream advisory locks; the second is a hash of the stream id. */
export const STREAM_LOCK_CLASS = 7_243;

/** Wakes the outbox relay; the relay also polls, so a lost notification only costs latency. */
export const OUTBOX_CHANNEL = 'outbox_events';

interface EventRow {
  position: string;
  event_id: string;
  order_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}

/** The part of the outbox relay the store needs to wake it. */
export interface LocalRelay {
  readonly isLeader: boolean;
  wake(): void;
}

/**
 * How appended events reach Kafka. `in-process`: an `outbox` row per event, which the OutboxRelay
 * publishes and deletes. `debezium`: an `outbox_capture` row per event holding its record, inserted
 * and deleted in the same transaction; Debezium's connector reads the insert from the write-ahead
 * log (docs/adr/0013-change-data-capture-or-our-own-relay.md).
 */
export type RelayMode = 'in-process' | 'debezium';

/** Streams of events keyed by stream id (the orders domain: an order id), with optimistic concurrency on the stream version. */
@Injectable()
export class EventStore {
  private localRelay: LocalRelay | undefined;
  private relayMode: RelayMode = 'in-process';
  /** Transactions of this store whose commit wakes the local relay, so they need no NOTIFY. */
  private readonly wakesLocally = new WeakSet<SqlSession>();
  /** Transactions that appended, with what they appended after (for the conflict a commit may report). */
  private readonly appendedIn = new WeakMap<SqlSession, { streamId: string; expectedVersion: number }>();
  /** Set by `groupCommits`: commands that start streams share transactions. */
  private groups: GroupCommit<SqlSession> | undefined;
  /** The sessions of works in shared transactions. */
  private readonly sharedSessions = new WeakSet<SqlSession>();
  /** Hears how many commands each shared transaction held, and how it ended (metrics). */
  private groupObserver: SharedTransactionObserver | undefined;

  /**
   * `sql`: pipelined connections for commands, so that a command is a few round trips (the command
   * API's); without them, TypeORM's transactions, a statement at a time.
   */
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Optional() @Inject(PipelinedSql) private readonly sql?: PipelinedSql,
    @Optional() @Inject(APP_CONFIG) config?: Pick<AppConfig, 'commandGroups'>,
  ) {
    if (config) this.groupCommits(config.commandGroups);
  }

  /**
   * A relay in this process. While it leads, appends made through `transaction()` wake it in memory
   * after their commit instead of sending a NOTIFY: a NOTIFY takes a lock shared by the whole server
   * from commit until the commit is flushed, so notifying transactions commit one at a time
   * (measured: 2 to 3 times fewer appends per second at 10 concurrent writers; docs/benchmarks.md).
   * Relays in other processes still get a NOTIFY from every append made while this one does not lead.
   * Leadership is read when the transaction starts: if it moves before the commit, the new leader
   * finds the events at its next poll.
   */
  useLocalRelay(relay: LocalRelay): void {
    this.localRelay = relay;
  }

  /** Appends from now on go to the outbox of this relay mode (set once at start, before any command). */
  useRelay(mode: RelayMode): void {
    this.relayMode = mode;
  }

  /**
   * Queues concurrent writers of one stream behind each other until commit, so they decide in turn
   * instead of all losing the race and retrying. The unique (order_id, version) key stays the guard.
   */
  async lockStream(db: SqlSession, streamId: string): Promise<void> {
    // A shared transaction would hold several streams' locks at once, and could wait in a cycle.
    if (this.sharedSessions.has(db))
      throw new Error(`a shared transaction cannot lock stream ${streamId}: only new streams share transactions`);
    await db.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [STREAM_LOCK_CLASS, streamId]);
  }

  /**
   * The stream's events as recorded: each at the schema version it was written with. Read them
   * through the domain's EventContract (decideAndAppend does) before trusting their shape.
   */
  async readStream(streamId: string, db: SqlSession = this.dataSource.manager): Promise<RecordedEvent[]> {
    const rows: EventRow[] = await db.query(
      `SELECT position, event_id, order_id, version, type, schema_version, data, metadata, occurred_at
         FROM events WHERE order_id = $1 ORDER BY version`,
      [streamId],
    );
    return rows.map((row) => toRecordedEvent(row));
  }

  /**
   * Locks the stream (lockStream) and then reads it: two statements, since a statement's snapshot is
   * taken before it waits for the lock; pipelined, they go out together.
   */
  lockAndReadStream(db: SqlSession, streamId: string): Promise<RecordedEvent[]> {
    return lockThenRead(
      db,
      () => this.lockStream(db, streamId),
      () => this.readStream(streamId, db),
    );
  }

  /**
   * Appends events after `expectedVersion` and queues them for the relay, in the caller's transaction.
   * Returns the stream's new version. Throws ConcurrencyConflict when another writer got there first.
   */
  async append(
    db: SqlSession,
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
  ): Promise<number> {
    if (events.length === 0) return expectedVersion;
    const data = events.map((e) => JSON.stringify(e.event.data));
    data.forEach((json, index) => {
      const bytes = Buffer.byteLength(json);
      if (bytes > EVENT_DATA_LIMIT_BYTES) throw new EventTooLarge(events[index]?.event.type ?? 'unknown', bytes);
    });
    // Traced, the outbox row hands the relay this transaction's span as the events' parent;
    // otherwise the traceparent the command came with travels on unchanged.
    const traceparent = currentTraceparent();
    describeCurrentSpan({
      'event_store.stream_id': streamId,
      'event_store.expected_version': expectedVersion,
      'event_store.event_types': events.map((e) => e.event.type),
    });
    const metadata = events.map((e) => (traceparent ? { ...e.metadata, traceparent } : e.metadata));
    this.appendedIn.set(db, { streamId, expectedVersion });
    const eventRows = [
      events.map((e) => e.eventId),
      events.map(() => streamId),
      events.map((_, index) => expectedVersion + index + 1),
      events.map((e) => e.event.type),
      events.map((e) => e.schemaVersion),
      data,
      metadata.map((m) => JSON.stringify(m)),
      events.map((e) => e.occurredAt.toISOString()),
    ];
    try {
      const appending =
        this.relayMode === 'debezium'
          ? this.appendForCapture(db, streamId, expectedVersion, events, metadata, eventRows)
          : this.appendForRelay(db, eventRows);
      // Pipelined, the append goes out with what follows it (the key's record, the commit), and a
      // conflict is reported by the transaction (see `transaction`).
      if (isPipelined(db)) appending.catch(() => undefined);
      else await appending;
    } catch (error) {
      throw conflictOr(error, streamId, expectedVersion);
    }
    return expectedVersion + events.length;
  }

  /**
   * One round trip: the events, their outbox rows and, unless the local relay will be woken after the
   * commit, the NOTIFY (Postgres delivers it at commit, never for a rollback).
   */
  private appendForRelay(db: SqlSession, eventRows: unknown[][]): Promise<unknown> {
    const wake = this.wakesLocally.has(db) ? 'SELECT' : `SELECT pg_notify('${OUTBOX_CHANNEL}', NULL)`;
    return db.query(
      `${INSERT_EVENTS}, queued AS (INSERT INTO outbox (position) SELECT position FROM appended) ${wake}`,
      eventRows,
    );
  }

  /**
   * The events and their records for change data capture, then the records deleted again: the
   * write-ahead log keeps the inserts for the connector, the table stays empty, and nobody polls.
   * Two statements (a statement cannot delete what its own CTE inserted); pipelined, one round trip.
   */
  private appendForCapture(
    db: SqlSession,
    streamId: string,
    expectedVersion: number,
    events: readonly NewEvent[],
    metadata: readonly EventMetadata[],
    eventRows: unknown[][],
  ): Promise<unknown> {
    const records = events.map((e, index) =>
      captureRecord(streamId, expectedVersion + index + 1, e, metadata[index] ?? e.metadata),
    );
    const header = (name: string): (string | null)[] => records.map((r) => r.headers[name] ?? null);
    const inserting = db.query(
      `${INSERT_EVENTS}, captured AS (
         INSERT INTO outbox_capture (event_id, order_id, payload, event_type, schema_version, correlation_id, causation_id, traceparent)
         SELECT * FROM unnest($1::uuid[], $9::text[], $10::text[], $4::text[], $11::text[], $12::text[], $13::text[], $14::text[])
       ) SELECT`,
      [
        ...eventRows,
        records.map((r) => r.key),
        records.map((r) => r.value),
        header('schema-version'),
        header('correlation-id'),
        header('causation-id'),
        header('traceparent'),
      ],
    );
    const deleting = db.query('DELETE FROM outbox_capture WHERE event_id = ANY($1::uuid[])', [eventRows[0]]);
    return Promise.all([inserting, deleting]);
  }
  /**
   * Lets commands that start new streams share transactions (`transaction`'s `sharing`) when they
   * come faster than transactions commit: a group commit (GroupCommit,
   * docs/adr/0015-group-commit-of-new-orders.md). Only on pipelined connections; `transactions` 0
   * turns it off. Set from the configuration when Nest makes the store; tests call it themselves.
   */
  groupCommits(options: GroupCommitOptions): void {
    this.groups =
      this.sql && options.transactions > 0
        ? new GroupCommit<SqlSession>(options, {
            together: (works) => this.transactionTogether(works),
            alone: (work) => this.transaction(work),
          })
        : undefined;
  }

  /** `observer` hears of every shared transaction once it has ended: its commands, and how it ended. */
  observeSharedTransactions(observer: SharedTransactionObserver): void {
    this.groupObserver = observer;
  }

  /**
   * A transaction of the store: traced as one span (`event-store transaction`), its SQL inside it.
   * With `sharing`, `work` may run in one transaction with other such works (after `groupCommits`):
   * only for work that starts a new stream, so that it waits for no lock another work of the
   * transaction could hold, and that takes at most one lock of its own, on `sharing.exclusive` (an
   * idempotency key), which no other work of this process holds while it runs. Its answer is always
   * that of its own work: if any work of the group fails, each runs again alone (unless the commit's
   * answer was lost: then each answers that failure, as alone).
   */
  transaction<T>(
    work: (db: SqlSession) => Promise<T>,
    sharing?: { readonly exclusive: string | undefined },
  ): Promise<T> {
    if (sharing && this.groups) return this.groups.submit(work, sharing.exclusive);
    return inSpan('event-store transaction', {}, () => this.transactionOnce(work));
  }

  /**
   * Several works in one pipelined transaction, all at once, each with a session of its own (so
   * what each appended is known apart) and its own span, in its caller's trace. Commits only if every
   * work succeeded; otherwise throws the first failure, and the transaction rolls back. A lock
   * wait longer than SHARED_LOCK_TIMEOUT fails the transaction (and each work runs again alone), so
   * one work waiting for a lock held elsewhere never holds up the others for long.
   */
  private async transactionTogether(works: readonly GroupedWork<SqlSession>[]): Promise<unknown[]> {
    if (!this.sql) throw new Error('a shared transaction needs pipelined connections');
    const relay = this.localRelay?.isLeader === true ? this.localRelay : undefined;
    const sessions: PipelinedSession[] = [];
    const progress = { allSucceeded: false };
    try {
      const results = await this.sql.transaction(async (shared) => {
        // With a parameter, prepared like every statement of the hot path (sent as plain text, the
        // system ran a third fewer orders per second minutes apart; docs/benchmarks.md, twelfth look).
        void shared.query("SELECT set_config('lock_timeout', $1, true)", [SHARED_LOCK_TIMEOUT]);
        const settled = await Promise.allSettled(
          works.map(({ work, inCallerScope }) => {
            const db: PipelinedSession = { pipelined: true, query: (text, values) => shared.query(text, values) };
            sessions.push(db);
            this.sharedSessions.add(db);
            if (relay) this.wakesLocally.add(db);
            return inCallerScope(() =>
              inSpan('event-store transaction', { attributes: { 'event_store.shared_by': works.length } }, () =>
                work(db),
              ),
            );
          }),
        );
        const failed = settled.find((outcome) => outcome.status === 'rejected');
        if (failed) throw failed.reason;
        progress.allSucceeded = true;
        return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value);
      });
      // Committed: the relay will find the rows.
      if (sessions.some((db) => this.appendedIn.has(db))) relay?.wake();
      this.groupObserver?.(works.length, 'committed');
      return results;
    } catch (error) {
      // Every work succeeded, so COMMIT was sent: unless Postgres itself answered that it rolled
      // back, the answer was lost, and the transaction may have committed.
      const unknown = progress.allSucceeded && !rolledBackForSure(error);
      this.groupObserver?.(works.length, unknown ? 'unknown' : 'rolled back');
      throw unknown ? new CommitOutcomeUnknown(error) : error;
    }
  }

  private async transactionOnce<T>(work: (db: SqlSession) => Promise<T>): Promise<T> {
    const relay = this.localRelay?.isLeader === true ? this.localRelay : undefined;
    let appended: { streamId: string; expectedVersion: number } | undefined;
    const run = async (db: SqlSession): Promise<T> => {
      if (relay) this.wakesLocally.add(db);
      try {
        return await work(db);
      } finally {
        appended = this.appendedIn.get(db);
      }
    };
    let result: T;
    try {
      result = this.sql ? await this.sql.transaction(run) : await this.dataSource.transaction(run);
    } catch (error) {
      throw appended ? conflictOr(error, appended.streamId, appended.expectedVersion) : error;
    }
    if (appended) relay?.wake(); // committed: the relay will find the rows
    return result;
  }
}

/**
 * How a shared transaction ended: committed; rolled back (each of its commands then runs again
 * alone); or unknown, its commit's answer lost (each command answers that failure).
 */
export type SharedTransactionOutcome = 'committed' | 'rolled back' | 'unknown';

export type SharedTransactionObserver = (commands: number, outcome: SharedTransactionOutcome) => void;

/**
 * The longest a work in a shared transaction waits for a lock (its idempotency key's, held by a
 * transaction of another process with the same key) before the transaction gives up and each of
 * its works runs alone: longer than a shared transaction takes under load, short enough that the
 * others hardly notice. It also breaks any cycle of waits between shared transactions at once.
 */
const SHARED_LOCK_TIMEOUT = '50ms';

/**
 * Postgres answered that the transaction did not commit: an error of its own, other than a broken
 * connection (class 08) or an operator's intervention (class 57, a terminated backend), after
 * which a COMMIT already sent may or may not have taken effect.
 */
function rolledBackForSure(error: unknown): boolean {
  return error instanceof pg.DatabaseError && !/^(08|57)/.test(error.code ?? '');
}

/** Inserts the events (parameters $1 to $8) as the CTE `appended`, returning their positions. */
const INSERT_EVENTS = `WITH appended AS (
  INSERT INTO events (event_id, order_id, version, type, schema_version, data, metadata, occurred_at)
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::timestamptz[])
  RETURNING position
)`;

/** The unique (order_id, version) key is the guard: its violation means a concurrent writer committed this version. */
function conflictOr(error: unknown, streamId: string, expectedVersion: number): unknown {
  return isPgError(error, '23505') ? new ConcurrencyConflict(streamId, expectedVersion) : error;
}

export function toRecordedEvent<E extends DomainEvent>(row: EventRow): RecordedEvent<E> {
  return {
    position: row.position,
    eventId: row.event_id,
    streamId: row.order_id,
    version: row.version,
    schemaVersion: row.schema_version,
    event: { type: row.type, data: row.data } as E,
    occurredAt: row.occurred_at,
    metadata: row.metadata,
  };
}

export type { EventRow };
