import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

import {
  MAX_RECORD_BYTES,
  isStorableText,
  recordSize,
  storableKey,
  type BatchHandler,
  type BatchOutcome,
  type EventEnvelope,
  type OutgoingRecord,
  type PartitionBatch,
} from '@app/messaging';
import {
  SpanKind,
  endSpans,
  hasPreparedStatementTrouble,
  isPipelined,
  startChildSpan,
  tracingEnabled,
  type PipelinedSql,
  type Span,
} from '@app/platform';

import { liveGeneration, type GenerationScope } from './generations.js';
import { lockOffsets, partitionKey } from './offset-locks.js';
import type { Projection } from './projection.js';
import {
  BEHIND_PARKED,
  sequenceRecords,
  type Discard,
  type ParkedRecord,
  type SequencedEvent,
  type SourcedRecord,
} from './sequence.js';
import type { SqlSession } from './sql-session.js';

/** Where poison records go, with their origin in headers; a publisher of the dead-letter topic. */
export interface DeadLetterSink {
  publish(records: readonly OutgoingRecord[]): Promise<void>;
}

/** What the runner reports, for metrics. */
export interface ProjectionObserver {
  /**
   * `alreadyApplied`: records of the batch below the partition's stored offset, skipped. A batch
   * fetched before another member (or a rebuild that switched) applied its records: a stale member's
   * batch, fenced by the offset lock.
   */
  batchApplied(
    projection: string,
    outcome: { applied: number; parked: number; deadLettered: number; alreadyApplied: number; seconds: number },
  ): void;
}

/**
 * The read model has applied more of this partition than the log now holds: the topic was recreated
 * or the broker's data lost while the database kept its offsets. Applying anything now would mix two
 * different logs, so the worker stops this partition, loudly, until the read model is rebuilt (or its
 * database reset).
 */
export class LogBehindReadModel extends Error {
  constructor(projection: string, batch: PartitionBatch, stored: bigint, logEnd: string) {
    super(
      `${projection} has applied ${batch.topic}/${batch.partition} up to offset ${stored}, but the log ends at ${logEnd}: ` +
        'the topic was recreated or its data lost since this read model was built. Rebuild the projection, or drop the ' +
        'read-model database (see README, "Troubleshooting").',
    );
    this.name = 'LogBehindReadModel';
  }
}

/** How often one event is tried, inside the batch's transaction, before it is dead-lettered. */
export const MAX_APPLY_ATTEMPTS = 3;

export interface ProjectionRunnerOptions {
  /** Where poison goes. Without one nothing is dead-lettered: a replay or a retry has no side effects beyond its tables. */
  readonly deadLetters?: DeadLetterSink;
  readonly observer?: ProjectionObserver;
  /** The generation written to; the live one unless a rebuild is filling another. */
  readonly scope?: GenerationScope;
  /**
   * Pipelined connections for the runner's transactions (the worker's live projections): a batch in
   * a few round trips. Without them, transactions run on the DataSource, a statement at a time.
   */
  readonly sql?: PipelinedSql;
  /**
   * A span per record of each batch, the child of the record's `traceparent` header (when tracing is
   * on): the live projections. Rebuilds and retries, which apply old events again, start none.
   */
  readonly traced?: boolean;
}

/**
 * How a transaction applies its events: `together` in one call with no savepoint (a failure throws
 * BatchApplyFailed, and the caller runs the batch again `one by one`); `one by one`, each under a
 * savepoint, parking what keeps failing; `together, then one by one`: together under a savepoint
 * first, one by one if that fails (retries of parked events, replays of one stream).
 */
export type ApplyMode = 'together' | 'one by one' | 'together, then one by one';

/** A batch's events failed to apply together: its transaction is rolled back and run again one by one. */
class BatchApplyFailed extends Error {
  constructor(readonly reason: unknown) {
    super('the batch failed to apply as a whole');
  }
}

export interface RecordsOutcome {
  readonly applied: number;
  readonly parked: readonly ParkedRecord[];
}

/** What the runner knows of a batch's streams before sequencing it. */
interface StreamStates {
  readonly versions: ReadonlyMap<string, number>;
  readonly parkedStreams: ReadonlySet<string>;
  readonly discards: readonly Discard[];
}

/** Where a partition batch leaves the partition's offset, saved with the versions it applied. */
interface OffsetAdvance {
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: string;
}

/**
 * Applies a partition batch and stores the next offset in one Postgres transaction: the effect of
 * each event is exactly-once however often Kafka delivers it.
 *
 * - The offset row is locked first, so a stale member (its partition taken over and applied
 *   further) sees the newer offset and changes nothing.
 * - The last applied version per stream makes a duplicate (a relay republish) a no-op, and an event
 *   that skips a version poison.
 * - Poison (undecodable, unknown type, or failing MAX_APPLY_ATTEMPTS times) is dead-lettered and
 *   parked, and later events of its stream park behind it: no read model applies a stream out of
 *   order, and the partition keeps flowing.
 */
export class ProjectionRunner implements BatchHandler {
  private readonly logger: Logger;
  private readonly handles: ReadonlySet<string>;
  private readonly deadLetters: DeadLetterSink | undefined;
  private readonly observer: ProjectionObserver | undefined;
  private readonly scope: GenerationScope;
  private readonly sql: PipelinedSql | undefined;
  private readonly traced: boolean;

  constructor(
    private readonly dataSource: DataSource,
    readonly projection: Projection,
    options: ProjectionRunnerOptions = {},
  ) {
    this.logger = new Logger(`Projection ${projection.name}`);
    this.handles = new Set(projection.handles);
    this.deadLetters = options.deadLetters;
    this.observer = options.observer;
    this.scope = options.scope ?? liveGeneration(projection.name);
    this.sql = options.sql;
    this.traced = options.traced ?? false;
  }

  /** Runs `work` in one transaction whose table names are the runner's generation's. */
  transaction<T>(work: (db: SqlSession) => Promise<T>): Promise<T> {
    const inScope = async (db: SqlSession): Promise<T> => {
      if (!isPipelined(db)) {
        await this.scope.enter(db);
        return work(db);
      }
      // Pipelined, `work`'s first statements go out with the scope's: one round trip.
      const entering = this.scope.enter(db);
      entering.catch(() => undefined); // awaited below: not an unhandled rejection meanwhile
      try {
        return await work(db);
      } finally {
        await entering; // its error (no generation, say) explains any of work's
      }
    };
    return this.sql ? this.sql.transaction(inScope) : this.dataSource.transaction(inScope);
  }

  async storedOffsets(topic: string, partitions: readonly number[]): Promise<ReadonlyMap<number, string>> {
    return this.transaction(async (db) => {
      const rows: { partition: number; next_offset: string }[] = await db.query(
        `SELECT partition, next_offset FROM projection_offsets
          WHERE projection = $1 AND topic = $2 AND partition = ANY($3::int[])`,
        [this.projection.name, topic, partitions],
      );
      return new Map(rows.map((row) => [row.partition, row.next_offset]));
    });
  }

  async handleBatch(batch: PartitionBatch): Promise<BatchOutcome> {
    const started = process.hrtime.bigint();
    const spans = this.applySpans([batch]);
    let applied: AppliedBatches;
    try {
      applied = await this.applyBatchOrEach(batch);
    } catch (error) {
      endSpans(spans, error);
      throw error;
    }
    endSpans(spans); // committed: the read model shows the record's effect
    this.report(applied, started);
    const [outcome] = applied.outcomes;
    if (!outcome) throw new Error('a batch was applied without an outcome');
    return outcome;
  }

  /**
   * Batches of different partitions (at most one of each) in one transaction, when they all apply
   * together: one offset lock, one read of stream states and one write of versions and offsets for
   * them all, where a transaction per batch repeats each (PartitionGroups hands them over). Each
   * partition keeps its own fencing: its offset row is locked and advanced in the transaction, and its
   * records below the stored offset are skipped. If the transaction fails for any reason (a poison
   * record, a partition behind the read model), each batch is applied again on its own, as
   * handleBatch does, so that one partition's trouble stays its own. Settles with an outcome or an
   * error per batch, in their order.
   */
  async handleBatches(batches: readonly PartitionBatch[]): Promise<PromiseSettledResult<BatchOutcome>[]> {
    const partitions = new Set(batches.map(partitionKey));
    // Two batches of one partition follow one another: each needs the offset the other leaves.
    if (batches.length <= 1 || partitions.size < batches.length) return this.handleEach(batches);
    const started = process.hrtime.bigint();
    const spans = this.applySpans(batches);
    let applied: AppliedBatches;
    try {
      applied = await this.applyBatches(batches, 'together');
    } catch (error) {
      endSpans(spans, error);
      return this.handleEach(batches);
    }
    endSpans(spans);
    this.report(applied, started);
    return applied.outcomes.map((value) => ({ status: 'fulfilled', value }));
  }

  /**
   * Each batch in a transaction of its own, one after another (on one connection, as their group
   * would have been), beating the group's heart between them: kafkajs does not while it waits.
   */
  private async handleEach(batches: readonly PartitionBatch[]): Promise<PromiseSettledResult<BatchOutcome>[]> {
    const settled: PromiseSettledResult<BatchOutcome>[] = [];
    const heartbeat = heartbeatOf(batches);
    for (const [index, batch] of batches.entries()) {
      if (index > 0) await heartbeat().catch(() => undefined); // a failed beat is kafkajs' to act on
      settled.push(...(await Promise.allSettled([this.handleBatch(batch)])));
    }
    return settled;
  }

  private applySpans(batches: readonly PartitionBatch[]): (Span | undefined)[] {
    if (!this.traced || !tracingEnabled()) return [];
    return batches.flatMap((batch) => batch.records.map((record) => this.applySpan(record)));
  }

  private report({ report, alreadyApplied }: AppliedBatches, started: bigint): void {
    this.observer?.batchApplied(this.projection.name, {
      applied: report.applied,
      parked: report.parked.length,
      deadLettered: report.parked.filter((parked) => parked.deadLetter).length,
      alreadyApplied,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    });
  }

  private async applyBatchOrEach(batch: PartitionBatch): Promise<AppliedBatches> {
    try {
      return await this.applyBatches([batch], 'together');
    } catch (error) {
      // Pipelined, the projection's writes fail at the commit, as a statement's error (applyTogether).
      if (!(error instanceof BatchApplyFailed) && !isStatementError(error)) throw error;
      return this.applyBatches([batch], 'one by one');
    }
  }

  /**
   * A span for one record's apply, from the batch's start to its commit, the child of the span that
   * published it (the record's `traceparent` header). The batch applies many traces' records in one
   * transaction, so none of them is made active.
   */
  private applySpan(record: PartitionBatch['records'][number]): Span | undefined {
    return startChildSpan(
      `apply ${this.projection.name}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.destination.name': record.topic,
          'messaging.destination.partition.id': String(record.partition),
          'messaging.kafka.offset': Number(record.offset),
          'projection.name': this.projection.name,
        },
      },
      record.headers.traceparent,
    );
  }

  /**
   * One transaction for the batches (see ApplyMode), of different partitions. On a pipelined session
   * the offset locks, the streams' states and, at the end, the new versions and offsets with the
   * commit each go out in one round trip.
   */
  private async applyBatches(
    batches: readonly PartitionBatch[],
    mode: 'together' | 'one by one',
  ): Promise<AppliedBatches> {
    let report: RecordsOutcome = { applied: 0, parked: [] };
    let alreadyApplied = 0;
    const records = batches.length === 1 ? (batches[0]?.records ?? []) : batches.flatMap((batch) => batch.records);
    const outcomes = await this.transaction(async (db): Promise<BatchOutcome[]> => {
      const locking = lockOffsets(db, this.projection.name, batches);
      // Pipelined, the streams' states are read in the same round trip, after the locks (so with a
      // snapshot that sees what the locks waited for), for every record: those below the stored offset
      // are simply not used.
      const states = isPipelined(db) && records.length > 0 ? this.loadStreamStates(db, records) : undefined;
      // And, for batches applied in one call, the rows the projection will read: in the same round trip.
      const prefetched =
        states && mode === 'together' ? this.projection.prefetch?.(db, streamIdsOf(records)) : undefined;
      // Left unawaited when the batches stop early: their failures are the transaction's to report.
      states?.catch(() => undefined);
      prefetched?.catch(() => undefined);
      const storedOffsets = await locking;
      const decided: BatchOutcome[] = [];
      const advances: OffsetAdvance[] = [];
      let fresh: readonly SourcedRecord[] = [];
      for (const batch of batches) {
        const stored = storedOffsets.get(partitionKey(batch));
        if (stored === undefined) throw new Error('projection_offsets upsert returned no row');
        const decision = await this.decide(batch, stored);
        decided.push(decision.outcome);
        alreadyApplied += decision.alreadyApplied;
        if (decision.advance === undefined) continue;
        advances.push(decision.advance);
        fresh = fresh.length === 0 ? decision.fresh : [...fresh, ...decision.fresh];
      }
      if (advances.length === 0) return decided;
      report = await this.applyRecords(db, fresh, {
        heartbeat: heartbeatOf(batches),
        advances,
        mode,
        states,
        prefetched,
      });
      return decided;
    });
    return { outcomes, report, alreadyApplied };
  }

  /**
   * What a batch does, given its partition's stored offset under the lock: read a gap first (rewind),
   * nothing (everything in it was applied already), or apply its records from the stored offset on.
   */
  private async decide(
    batch: PartitionBatch,
    stored: bigint,
  ): Promise<{
    outcome: BatchOutcome;
    alreadyApplied: number;
    advance?: OffsetAdvance;
    fresh: readonly SourcedRecord[];
  }> {
    const { topic, partition, records } = batch;
    if (BigInt(batch.highWatermark) < stored) {
      // The batch may just be older than what was applied since it was fetched (by the member that
      // took this partition over, or by a rebuild that switched): only the broker's log end now tells.
      const logEnd = await batch.logEnd();
      if (BigInt(logEnd) < stored) throw new LogBehindReadModel(this.projection.name, batch, stored, logEnd);
    }
    if (BigInt(batch.fetchedFrom) > stored && !(await this.deletedUpTo(batch, stored))) {
      // Kafka resumed past what was applied (its committed offset is only advisory): read the gap.
      return { outcome: { kind: 'rewind', offset: stored.toString() }, alreadyApplied: 0, fresh: [] };
    }
    // Progress follows the fetch, not the records: offsets after the last record (a transaction
    // marker, aborted records) were read too, and must not be read again.
    const next = BigInt(batch.lastOffset) + 1n;
    // A partition's records come in offset order: when the first is fresh, all are.
    const first = records[0];
    const fresh =
      first === undefined || BigInt(first.offset) >= stored
        ? records
        : records.filter((record) => BigInt(record.offset) >= stored);
    const alreadyApplied = records.length - fresh.length;
    if (next <= stored)
      return { outcome: { kind: 'applied', nextOffset: stored.toString() }, alreadyApplied, fresh: [] };
    const nextOffset = next.toString();
    return {
      outcome: { kind: 'applied', nextOffset },
      alreadyApplied,
      advance: { topic, partition, nextOffset },
      fresh,
    };
  }

  /**
   * Sequences and applies records in the caller's transaction (opened with `transaction`), parks
   * what cannot be applied, and records the new versions. Used for partition batches, for retrying
   * parked events, and for replaying one stream.
   */
  async applyRecords(
    db: SqlSession,
    records: readonly SourcedRecord[],
    {
      heartbeat = () => Promise.resolve(),
      advances = [],
      mode = 'together, then one by one',
      states,
      prefetched,
    }: {
      heartbeat?: () => Promise<void>;
      /** Where the records' partition batches leave their partitions' offsets. */
      advances?: readonly OffsetAdvance[];
      mode?: ApplyMode;
      /** The states of these records' streams (or more), already asked for. */
      states?: Promise<StreamStates>;
      /** What the projection's `prefetch` read for these records' streams, for an apply `together`. */
      prefetched?: Promise<unknown>;
    } = {},
  ): Promise<RecordsOutcome> {
    const { versions, parkedStreams, discards } = await (states ?? this.loadStreamStates(db, records));
    const sequence = sequenceRecords(records, {
      versions,
      parkedStreams,
      discards,
      contract: this.projection.events,
      handles: this.handles,
    });
    const parked = [...sequence.parked];
    const applied =
      mode === 'together'
        ? await this.applyTogether(db, sequence.next, prefetched)
        : await this.apply(db, sequence.next, parked, heartbeat, mode);

    const saving = this.saveVersions(db, applied, advances);
    if (!isPipelined(db) || parked.length > 0) await saving;
    // Pipelined, it goes out with the commit, and its failure is the transaction's to report.
    else saving.catch(() => undefined);
    await this.park(db, parked);
    const poison = parked.filter((record) => record.deadLetter);
    if (this.deadLetters && poison.length > 0) {
      await heartbeat();
      // Before the commit: a crash in between sends them again, never loses them (the DLQ is at-least-once).
      await this.deadLetters.publish(poison.map((record) => this.toDeadLetter(record)));
      for (const { record, reason } of poison) {
        this.logger.warn(`dead-lettered ${record.topic}/${record.partition}@${record.offset}: ${reason}`);
      }
    }
    return { applied: applied.filter((event) => event.handled).length, parked };
  }

  /**
   * The events in one call, with no savepoint: a failure throws BatchApplyFailed (or a transient error
   * as it is). On a pipelined session the projection's writes are not awaited (kit: `written`): they go
   * out with the versions and the COMMIT, and a failure of theirs is the commit's, which the caller
   * takes as a failed batch too.
   */
  private async applyTogether(
    db: SqlSession,
    events: readonly SequencedEvent[],
    prefetched: Promise<unknown> | undefined,
  ): Promise<SequencedEvent[]> {
    const handled = events.filter((event) => event.handled).map((event) => event.envelope);
    try {
      if (handled.length > 0) await this.projection.apply(db, handled, prefetched);
    } catch (error) {
      if (isTransient(error)) throw error;
      throw new BatchApplyFailed(error);
    }
    return [...events];
  }

  /** Event by event under savepoints, parking what keeps failing; `together, then one by one` tries them all in one call first. */
  private async apply(
    db: SqlSession,
    events: readonly SequencedEvent[],
    parked: ParkedRecord[],
    heartbeat: () => Promise<void>,
    mode: Exclude<ApplyMode, 'together'>,
  ): Promise<SequencedEvent[]> {
    const handled = events.filter((event) => event.handled).map((event) => event.envelope);
    if (handled.length === 0) return [...events];
    if (mode === 'together, then one by one' && (await this.attempt(db, handled)) === undefined) return [...events];

    const failedStreams = new Set<string>();
    const applied: SequencedEvent[] = [];
    for (const event of events) {
      await heartbeat(); // event by event is slow: keep the group from evicting this member meanwhile
      const { streamId } = event.envelope;
      if (failedStreams.has(streamId)) {
        parked.push({ record: event.record, streamId, reason: BEHIND_PARKED, deadLetter: false });
        continue;
      }
      const error = event.handled ? await this.attemptRepeatedly(db, event) : undefined;
      if (error === undefined) {
        applied.push(event);
        continue;
      }
      failedStreams.add(streamId);
      const message = error instanceof Error ? error.message : JSON.stringify(error);
      parked.push({
        record: event.record,
        streamId,
        reason: `apply failed ${MAX_APPLY_ATTEMPTS} times: ${message}`,
        deadLetter: true,
      });
    }
    return applied;
  }

  /** Tries one event up to MAX_APPLY_ATTEMPTS times; returns the last error, or undefined once it applied. */
  private async attemptRepeatedly(db: SqlSession, event: SequencedEvent): Promise<unknown> {
    let error: unknown;
    for (let attempt = 1; attempt <= MAX_APPLY_ATTEMPTS; attempt++) {
      error = await this.attempt(db, [event.envelope]);
      if (error === undefined) return undefined;
    }
    return error;
  }

  /**
   * Applies under a savepoint; on failure rolls back to it and returns the error. A transient
   * database error (deadlock, timeout, lost connection) is thrown instead: the whole batch then
   * rolls back and Kafka delivers it again, rather than a good event being parked.
   */
  private async attempt(db: SqlSession, events: readonly EventEnvelope[]): Promise<unknown> {
    await db.query('SAVEPOINT projection_apply');
    try {
      await this.projection.apply(awaitingWrites(db), events);
      await db.query('RELEASE SAVEPOINT projection_apply');
      return undefined;
    } catch (error) {
      if (isTransient(error)) throw error;
      await db.query('ROLLBACK TO SAVEPOINT projection_apply');
      return error ?? new Error('apply failed');
    }
  }

  /**
   * Each stream's last applied version, which streams have parked events, and the operators' discards
   * of those streams or of these very records: one round trip.
   */
  private async loadStreamStates(db: SqlSession, records: readonly SourcedRecord[]): Promise<StreamStates> {
    if (records.length === 0) return { versions: new Map(), parkedStreams: new Set(), discards: [] };
    const streamIds = streamIdsOf(records);
    const rows: {
      kind: 'version' | 'parked' | 'discard';
      order_id: string | null;
      version: number | null;
      event_id: string | null;
      topic: string | null;
      partition: number | null;
      offset: string | null;
    }[] = await db.query(
      `SELECT 'version' AS kind, order_id, version, NULL AS event_id, NULL AS topic, NULL::int AS partition, NULL::text AS "offset"
           FROM projection_order_versions WHERE projection = $1 AND order_id = ANY($2::text[])
         UNION ALL
         SELECT DISTINCT 'parked', order_id, NULL::int, NULL, NULL, NULL::int, NULL::text FROM parked_events WHERE projection = $1 AND order_id = ANY($2::text[])
         UNION ALL
         SELECT 'discard', order_id, version, event_id, topic, partition, "offset"::text FROM public.projection_decisions
          WHERE projection = $1 AND decision = 'discarded'
            AND (order_id = ANY($2::text[])
                 OR EXISTS (SELECT FROM unnest($3::text[], $4::int[], $5::bigint[], $6::bigint[]) AS r(topic, partition, low, high)
                             WHERE r.topic = projection_decisions.topic AND r.partition = projection_decisions.partition
                               AND projection_decisions."offset" BETWEEN r.low AND r.high))`,
      [this.projection.name, streamIds, ...offsetRanges(records)],
    );
    const versions = new Map<string, number>();
    const parkedStreams = new Set<string>();
    const discards: Discard[] = [];
    for (const row of rows) {
      if (row.kind === 'version' && row.order_id !== null && row.version !== null)
        versions.set(row.order_id, row.version);
      else if (row.kind === 'parked' && row.order_id !== null) parkedStreams.add(row.order_id);
      else if (row.kind === 'discard' && row.topic !== null && row.partition !== null && row.offset !== null) {
        discards.push({
          streamId: row.order_id,
          version: row.version,
          eventId: row.event_id,
          topic: row.topic,
          partition: row.partition,
          offset: row.offset,
        });
      }
    }
    return { versions, parkedStreams, discards };
  }

  /** Records each stream's new version and, for partition batches, their partitions' next offsets: one round trip. */
  private async saveVersions(
    db: SqlSession,
    applied: readonly SequencedEvent[],
    advances: readonly OffsetAdvance[],
  ): Promise<void> {
    const latest = new Map<string, number>();
    for (const { envelope } of applied) latest.set(envelope.streamId, envelope.version);
    const saveVersions = `INSERT INTO projection_order_versions AS v (projection, order_id, version)
       SELECT $1, order_id, version FROM unnest($2::text[], $3::int[]) AS t(order_id, version)
       ON CONFLICT (projection, order_id) DO UPDATE SET version = EXCLUDED.version WHERE v.version < EXCLUDED.version`;
    const advanceOffsets = `UPDATE projection_offsets AS o SET next_offset = a.next_offset
         FROM unnest($4::text[], $5::int[], $6::bigint[]) AS a(topic, partition, next_offset)
        WHERE o.projection = $1 AND o.topic = a.topic AND o.partition = a.partition AND o.next_offset < a.next_offset`;
    const versions = [this.projection.name, [...latest.keys()], [...latest.values()]];
    if (advances.length > 0) {
      // With no version to save the CTE inserts nothing, and the offsets still move on.
      await db.query(`WITH saved AS (${saveVersions}) ${advanceOffsets}`, [
        ...versions,
        advances.map((advance) => advance.topic),
        advances.map((advance) => advance.partition),
        advances.map((advance) => advance.nextOffset),
      ]);
    } else if (latest.size > 0) {
      await db.query(saveVersions, versions);
    }
  }

  private async park(db: SqlSession, parked: readonly ParkedRecord[]): Promise<void> {
    for (const { record, streamId, reason, deadLetter } of parked) {
      await db.query(
        `INSERT INTO parked_events (projection, order_id, topic, partition, "offset", key, value, headers, reason, dead_lettered)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (projection, topic, partition, "offset") DO UPDATE SET reason = EXCLUDED.reason`,
        // The record's own bytes are kept as they are; its headers and the reason only as storable text.
        [
          this.projection.name,
          streamId,
          record.topic,
          record.partition,
          record.offset,
          record.key,
          record.value,
          JSON.stringify(storableHeaders(record.headers)),
          storableText(reason),
          deadLetter,
        ],
      );
    }
  }

  private toDeadLetter({ record, reason }: ParkedRecord): OutgoingRecord {
    const letter: OutgoingRecord = {
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        'dlq-origin-topic': record.topic,
        'dlq-origin-partition': String(record.partition),
        'dlq-origin-offset': record.offset,
        'dlq-error': reason.slice(0, 1_000),
        'dlq-projection': this.projection.name,
      },
    };
    // Another producer's record may be too large to forward: send its origin without the value (the
    // whole record is kept in parked_events), so the partition keeps flowing.
    if (recordSize(letter) <= MAX_RECORD_BYTES) return letter;
    const withoutValue = {
      ...letter,
      value: null,
      headers: { ...letter.headers, 'dlq-value-dropped': 'too large; kept in parked_events' },
    };
    if (recordSize(withoutValue) <= MAX_RECORD_BYTES) return withoutValue;
    // Its headers alone are too large: only the origin goes (the record is whole in parked_events).
    const origin = Object.fromEntries(Object.entries(withoutValue.headers).filter(([name]) => name.startsWith('dlq-')));
    return {
      key: storableKey(record.key),
      value: null,
      headers: { ...origin, 'dlq-headers-dropped': 'too large; kept in parked_events' },
    };
  }

  /**
   * Whether the offsets between the stored one and where the batch was read from are gone from the log
   * (delete-records or retention moved its start past them): then there is nothing to read there.
   */
  private async deletedUpTo(batch: PartitionBatch, stored: bigint): Promise<boolean> {
    const logStart = await batch.logStart();
    if (BigInt(logStart) < BigInt(batch.fetchedFrom)) return false;
    this.logger.warn(
      `${batch.topic}/${String(batch.partition)}: offsets ${stored.toString()} to ${String(BigInt(batch.fetchedFrom) - 1n)} were deleted from the log ` +
        `(it now starts at ${logStart}) before this projection applied them; moving on from ${batch.fetchedFrom}`,
    );
    return true;
  }
}

/** A batch's outcomes and what its transaction did, for the observer. */
interface AppliedBatches {
  readonly outcomes: readonly BatchOutcome[];
  readonly report: RecordsOutcome;
  readonly alreadyApplied: number;
}

/**
 * The consumer's heartbeat, through the first of the batches that has records (a batch of a fetch
 * with only invisible records has none to give): the batches are one consumer's, one beat serves all.
 */
function heartbeatOf(batches: readonly PartitionBatch[]): () => Promise<void> {
  const carrier = batches.find((batch) => batch.records.length > 0) ?? batches[0];
  return () => carrier?.heartbeat() ?? Promise.resolve();
}

/**
 * The session as a projection sees it under a savepoint: not pipelined, so that it awaits its writes
 * and a failure is thrown by its apply, for the savepoint to undo, with its own error (a pipelined
 * apply would leave it to RELEASE, which could only say the transaction was aborted).
 */
function awaitingWrites(db: SqlSession): SqlSession {
  if (!isPipelined(db)) return db;
  return { query: (sql: string, parameters?: unknown[]) => db.query(sql, parameters) };
}

/** An error Postgres answered a statement with, and not one worth another try as it is. */
function isStatementError(error: unknown): boolean {
  // Postgres' own answer has a severity; a broken socket's error (EPIPE) has a code only.
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && typeof severity === 'string' && !isTransient(error);
}

/** SQLSTATE classes worth another try: serialization and deadlock (40), resources (53), operator intervention and timeouts (57), connection (08), lock not available, and a prepared statement gone stale (on another connection). */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (/^(40|53|57|08)/.test(code) || code === '55P03' || hasPreparedStatementTrouble(error))
  );
}

/**
 * The records' offsets as one range per partition, as four parallel arrays (topic, partition, low,
 * high): a partition batch sends four values where it sent three per record. A range may hold
 * offsets that are not among the records (a retry's): their discards match no record, and a
 * discard's hole in a stream of the records was loaded by the stream anyway.
 */
function offsetRanges(records: readonly SourcedRecord[]): [string[], number[], string[], string[]] {
  type Range = { topic: string; partition: number; low: string; high: string };
  const ranges = new Map<string, Range>();
  let last: Range | undefined;
  for (const { topic, partition, offset } of records) {
    // A partition batch is one range: no key to build per record.
    let range =
      last?.topic === topic && last.partition === partition ? last : ranges.get(`${String(partition)}/${topic}`);
    if (range === undefined) {
      range = { topic, partition, low: offset, high: offset };
      ranges.set(`${String(partition)}/${topic}`, range);
    } else if (offsetBelow(offset, range.low)) range.low = offset;
    else if (offsetBelow(range.high, offset)) range.high = offset;
    last = range;
  }
  const all = [...ranges.values()];
  return [all.map((r) => r.topic), all.map((r) => r.partition), all.map((r) => r.low), all.map((r) => r.high)];
}

/** The stream ids the records' keys name, each once (a key that is no storable text names none). */
function streamIdsOf(records: readonly SourcedRecord[]): string[] {
  return [...new Set(records.map((record) => storableKey(record.key)).filter((id) => id !== null))];
}

/** Offsets are decimal text without leading zeros: the shorter is smaller, then the text decides. */
function offsetBelow(a: string, b: string): boolean {
  return a.length < b.length || (a.length === b.length && a < b);
}

/** Text Postgres can store: NUL characters and lone surrogates become U+FFFD. */
function storableText(text: string): string {
  return isStorableText(text) ? text : text.toWellFormed().replaceAll('\0', '\uFFFD');
}

function storableHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [storableText(name), storableText(value)]));
}
