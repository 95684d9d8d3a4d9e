import { setTimeout as delay } from 'node:timers/promises';

import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

import {
  BatchConsumer,
  TopicOffsets,
  type BatchHandler,
  type BatchOutcome,
  type KafkaConnection,
  type PartitionBatch,
} from '@app/messaging';
import { isPgError, quoteIdentifier } from '@app/platform';

import {
  LIVE_GENERATION_LOCK,
  ProjectionHasNoGeneration,
  analyzeGeneration,
  buildingGeneration,
  createGenerationLike,
  dropGeneration,
  dropUnlessLive,
  findLiveGeneration,
  generationSchema,
  pauseLiveWriters,
  switchToGeneration,
  type LiveGenerationRow,
  type SqlSession,
} from '../generations.js';
import { retryDecidedOrders } from '../parked-events.js';
import { ProjectionRunner } from '../projection-runner.js';
import type { Projection } from '../projection.js';
import { RebuildOwner, RebuildOwnerLost } from './rebuild-owner.js';
import { RebuildRecords, type OwnerStanding, type RebuildRecord } from './rebuild-records.js';
import { ReplayProgress, type ReplayProgressSnapshot } from './replay-progress.js';

/** Partition batches a rebuild applies at once, each in its own transaction: 2 measured best on 2 cores (docs/benchmarks.md). */
export const REPLAY_CONCURRENT_PARTITIONS = 2;
/** Partition batches a rebuild holds beyond kafkajs' fetch, so the next fetch overlaps their transactions (docs/benchmarks.md). */
export const REPLAY_READ_AHEAD = 6;

/** What a replay reads and where it writes. */
export interface ReplayContext {
  readonly dataSource: DataSource;
  readonly kafka: KafkaConnection;
  readonly topic: string;
  /** Prefixed to the replay's consumer groups, like every other group of this deployment. */
  readonly groupPrefix: string;
}

export interface RebuildOptions {
  /** Called a few times a second with the progress. */
  readonly onProgress?: (progress: ReplayProgressSnapshot) => void;
  /** Aborting cancels the rebuild: its generation is dropped and the live one keeps serving. */
  readonly signal?: AbortSignal;
  /** Called once the rebuild is recorded as running and owned by this process. */
  readonly onStart?: (record: RebuildRecord) => void;
}

/** What a rebuild would do, for `--dry-run`: nothing is written. */
export interface RebuildPlan {
  readonly projection: string;
  readonly live: LiveGenerationRow;
  readonly codeVersion: number;
  readonly nextGeneration: number;
  readonly highWaterMarks: Readonly<Record<string, number>>;
  readonly events: number;
  readonly activeRebuild: RebuildRecord | undefined;
}

export class RebuildCancelled extends Error {
  constructor(reason: string) {
    super(`cancelled: ${reason}`);
    this.name = 'RebuildCancelled';
  }
}

const TICK_MS = 100;
const SAVE_PROGRESS_EVERY_MS = 1_000;
const REPORT_PROGRESS_EVERY_MS = 250;
/** How long a switch may hold the live writers paused while the new generation closes the last gap. */
const SWITCH_WAIT_MS = 2_000;
/** How long the switch waits for any one lock (live writers' batches, readers of the views) before trying again. */
const SWITCH_LOCK_TIMEOUT_MS = 3_000;

/**
 * Rebuilds a projection from offset zero into a new generation beside the live one (ADR 7):
 *
 * 1. creates the generation's tables, shaped like the live ones, and takes the log's high-water marks;
 * 2. fills it with a consumer group of its own, in large batches, with the same runner as the worker
 *    (so the same exactly-once bookkeeping) and no dead letters: a replay has no side effects beyond
 *    its tables;
 * 3. once past the marks, catches up with the live generation, and in one transaction, with the
 *    live writers paused, switches the public views over: readers see the old generation or the new,
 *    never a half-built one;
 * 4. drops the old generation.
 *
 * A crash anywhere before the switch leaves the live generation untouched; the next rebuild of the
 * projection marks the dead one failed and drops what it had built. The process running a rebuild
 * owns it through a session of its own (RebuildOwner): it claims the rebuild, creates its generation
 * and switches on that session, checking its lock each time, and stops on its own, dropping only
 * what it built, as soon as that session is lost.
 */
export class ProjectionRebuilder {
  private readonly records: RebuildRecords;

  constructor(private readonly context: ReplayContext) {
    this.records = new RebuildRecords(context.dataSource);
  }

  async plan(projection: Projection): Promise<RebuildPlan> {
    const db = this.context.dataSource.manager;
    const live = await requireLive(db, projection);
    const marks = await highWaterMarks(this.context);
    return {
      projection: projection.name,
      live,
      codeVersion: projection.version,
      nextGeneration: await nextGeneration(db, projection, live),
      highWaterMarks: marks,
      events: Object.values(marks).reduce((sum, offset) => sum + offset, 0),
      activeRebuild: await this.records.active(projection.name),
    };
  }

  /** Records a rebuild and runs it in this process. Throws RebuildAlreadyActive when one is under way. */
  async rebuild(
    projection: Projection,
    requestedBy: string,
    reason: string,
    options: RebuildOptions = {},
  ): Promise<RebuildRecord> {
    return this.owned(async (owner) => {
      const record = await this.records.requestRunning(owner, {
        projection: projection.name,
        version: projection.version,
        requestedBy,
        reason,
      });
      return this.run(owner, record, projection, options);
    });
  }

  /**
   * Claims the oldest requested rebuild of one of `projections` and runs it in this process, as a
   * worker does; undefined when none is requested. Returns how it ended.
   */
  async runNextRequested(
    projections: readonly Projection[],
    options: RebuildOptions = {},
  ): Promise<RebuildRecord | undefined> {
    const names = projections.map((projection) => projection.name);
    if (!(await this.records.hasRequested(names))) return undefined;
    return this.owned(async (owner) => {
      const claimed = await this.records.claimRequested(owner, names);
      const projection = claimed && projections.find((candidate) => candidate.name === claimed.projection);
      return claimed && projection ? this.run(owner, claimed, projection, options) : undefined;
    });
  }

  /** An owner session for `work`, closed after it: the owner lock lives exactly as long as the rebuild's run. */
  private async owned<T>(work: (owner: RebuildOwner) => Promise<T>): Promise<T> {
    const owner = await RebuildOwner.open(this.context.dataSource);
    try {
      return await work(owner);
    } finally {
      await owner.close();
    }
  }

  private async run(
    owner: RebuildOwner,
    record: RebuildRecord,
    projection: Projection,
    options: RebuildOptions,
  ): Promise<RebuildRecord> {
    options.onStart?.(record);
    await new RebuildRun(this.context, this.records, owner, record, projection, options).execute();
    const finished = await this.records.find(record.id);
    if (!finished) throw new Error(`rebuild ${record.id} disappeared`);
    return finished;
  }
}

async function requireLive(db: SqlSession, projection: Projection): Promise<LiveGenerationRow> {
  const live = await findLiveGeneration(db, projection.name);
  if (!live) throw new ProjectionHasNoGeneration(projection.name);
  return live;
}

/** Past every generation used so far, including failed attempts, so a leftover schema never collides. */
async function nextGeneration(db: SqlSession, projection: Projection, live: LiveGenerationRow): Promise<number> {
  const rows: { generation: number }[] = await db.query(
    'SELECT coalesce(max(generation), 0) AS generation FROM projection_rebuilds WHERE projection = $1',
    [projection.name],
  );
  return Math.max(live.generation, rows[0]?.generation ?? 0) + 1;
}

/** The log end of every partition: what a rebuild must reach before it may switch. */
export async function highWaterMarks(context: ReplayContext): Promise<Record<string, number>> {
  const offsets = new TopicOffsets(context.kafka);
  try {
    const ends = await offsets.logEnd(context.topic);
    return Object.fromEntries([...ends].map(([partition, end]) => [String(partition), Number(end)]));
  } finally {
    await offsets.close();
  }
}

/** One rebuild's run: its consumer, its progress, and its cleanup whatever happens. */
class RebuildRun {
  private readonly logger: Logger;
  private readonly groupId: string;
  private consumer: BatchConsumer | undefined;
  /** Applies to the generation being built. */
  private runner: ProjectionRunner | undefined;
  private fatal: Error | undefined;
  private progress: ReplayProgress | undefined;
  private lastSaved = 0;
  private lastReported = 0;

  constructor(
    private readonly context: ReplayContext,
    private readonly records: RebuildRecords,
    private readonly owner: RebuildOwner,
    private readonly record: RebuildRecord,
    private readonly projection: Projection,
    private readonly options: RebuildOptions,
  ) {
    this.logger = new Logger(`Rebuild ${projection.name}#${record.id}`);
    this.groupId = `${context.groupPrefix}replay.${projection.name}.${record.id}`;
  }

  async execute(): Promise<void> {
    let building: string | undefined;
    let switched = false;
    try {
      const { live, generation, schema, marks } = await this.prepare();
      building = schema;
      const targets = new Map(Object.entries(marks).map(([partition, end]) => [Number(partition), end]));
      const progress = new ReplayProgress(targets, Date.now());
      this.progress = progress;
      this.logger.log(
        `filling ${schema} from offset 0 to ${String(progress.snapshot(Date.now()).eventsTotal)} events; ${live.schemaName} keeps serving`,
      );

      progress.enter('filling');
      await this.startConsumer(schema, progress);
      await this.waitUntil(() => progress.reachedTargets());

      progress.enter('catching-up');
      await this.analyze(schema);
      const target = { generation, version: this.projection.version, schema };
      while (!(await this.trySwitch(live, target))) await this.tick();
      switched = true;
      progress.enter('done');
      this.report(true);
      this.logger.log(`switched readers to ${schema}; dropping ${live.schemaName}`);
      await this.stopConsumer();
      await this.dropQuietly(live.schemaName);
    } catch (error) {
      const cancelled = error instanceof RebuildCancelled;
      const message = error instanceof Error ? error.message : String(error);
      if (cancelled) this.logger.warn(message);
      else this.logger.error(`failed: ${message}`);
      await this.stopConsumer();
      // Only what this run built, and never a live generation: a switch whose commit was lost in transit may have made it live.
      if (!switched && building !== undefined) await this.dropQuietly(building, { unlessLive: true });
      if (!switched) await this.recordEnd(cancelled ? 'cancelled' : 'failed', message);
    } finally {
      await this.context.kafka.deleteGroups([this.groupId]);
    }
  }

  /** Creates the new generation, shaped like the live one, and takes the high-water marks it must reach. */
  private async prepare(): Promise<{
    live: LiveGenerationRow;
    generation: number;
    schema: string;
    marks: Record<string, number>;
  }> {
    const marks = await highWaterMarks(this.context);
    return this.owner.transaction(async (db) => {
      await this.fence(db);
      // Shared, as live writers hold it: a migration that alters every generation (holding it
      // exclusively) either sees this one or runs before it is made LIKE the live one.
      await db.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [
        LIVE_GENERATION_LOCK,
        this.projection.name,
      ]);
      const live = await requireLive(db, this.projection);
      const generation = await nextGeneration(db, this.projection, live);
      const schema = generationSchema(this.projection.name, generation);
      await createGenerationLike(db, live.schemaName, schema);
      await this.records.started(db, this.record.id, {
        generation,
        schema,
        version: this.projection.version,
        highWaterMarks: marks,
      });
      return { live, generation, schema, marks };
    });
  }

  private async startConsumer(schema: string, progress: ReplayProgress): Promise<void> {
    const runner = new ProjectionRunner(this.context.dataSource, this.projection, {
      scope: buildingGeneration(schema, { asynchronousCommit: true }),
    });
    this.runner = runner;
    const tracked: BatchHandler = {
      storedOffsets: (topic, partitions) => runner.storedOffsets(topic, partitions),
      handleBatch: async (batch: PartitionBatch): Promise<BatchOutcome> => {
        const outcome = await runner.handleBatch(batch);
        if (outcome.kind === 'applied') progress.applied(batch.partition, Number(outcome.nextOffset));
        return outcome;
      },
    };
    this.consumer = new BatchConsumer(
      this.context.kafka,
      {
        groupId: this.groupId,
        topic: this.context.topic,
        fetch: 'bulk',
        // While one partition's batch is in Postgres, the next is folded here: both cores busy.
        concurrentPartitions: REPLAY_CONCURRENT_PARTITIONS,
        readAhead: REPLAY_READ_AHEAD,
        onFatalError: (error) => (this.fatal = error),
      },
      tracked,
    );
    await this.consumer.start();
  }

  private async stopConsumer(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop().catch((error: unknown) => {
      this.logger.warn(`stopping the replay consumer: ${String(error)}`);
    });
  }

  /**
   * Switches when the new generation has applied at least what the live one has on every partition,
   * so that no reader sees an order go back a version. Returns false to try again a little later.
   * Runs on the owner's session, behind its fence: the switch commits only while this process owns
   * the rebuild, and a cancel either committed before it (and stops it) or waits and finds it switched.
   */
  private async trySwitch(
    live: LiveGenerationRow,
    target: { generation: number; version: number; schema: string },
  ): Promise<boolean> {
    await this.throwIfCancelled(); // a cancel that arrives while the fill finishes still wins
    // Orders an operator retried while this generation had not parked them yet are retried here too (ADR 6).
    if (this.runner) await retryDecidedOrders(this.runner);
    if (!(await this.caughtUp(this.context.dataSource.manager, live.schemaName, target.schema))) return false;
    this.progress?.enter('switching');
    const switched = await this.owner
      .transaction(async (db) => {
        // Bounded: a long reader or an idle session holding a view must not stall every reader queued
        // behind the switch's DDL. Timing out rolls back, and the switch is tried again.
        await db.query(`SET LOCAL lock_timeout = '${String(SWITCH_LOCK_TIMEOUT_MS)}ms'`);
        // The row before the live writers: cancels and abandonments take it first too, so none deadlocks with a switch.
        await this.fence(db);
        await pauseLiveWriters(db, this.projection.name);
        const deadline = Date.now() + SWITCH_WAIT_MS;
        while (!(await this.caughtUp(db, live.schemaName, target.schema))) {
          if (Date.now() > deadline) return false;
          await delay(10);
        }
        const current = await findLiveGeneration(db, this.projection.name);
        if (current?.schemaName !== live.schemaName)
          throw new Error(`the live generation changed to ${current?.schemaName ?? 'none'} during the rebuild`);
        await switchToGeneration(db, this.projection, target);
        if (this.progress)
          await this.records.saveProgress(this.record.id, { ...this.progress.snapshot(Date.now()), phase: 'done' }, db);
        await this.records.finish(this.record.id, 'switched', null, db);
        return true;
      })
      .catch((error: unknown) => {
        if (isPgError(error, '55P03') || isPgError(error, '40P01')) return false; // lock timeout or deadlock: try again
        throw error;
      });
    if (!switched) this.progress?.enter('catching-up');
    return switched;
  }

  /** Locks the rebuild's row for the rest of `db`'s transaction; throws unless this process still owns it and nobody asked to cancel. */
  private async fence(db: SqlSession): Promise<void> {
    if (this.options.signal?.aborted) throw new RebuildCancelled('interrupted');
    const standing: OwnerStanding = await this.records.fence(db, this.record.id, this.owner.pid);
    switch (standing) {
      case 'held':
        return;
      case 'cancel-requested':
        throw new RebuildCancelled('an operator asked to cancel');
      case 'lock-lost':
        throw new RebuildOwnerLost('its session no longer holds the lock');
      case 'not-running':
        throw new RebuildOwnerLost('the rebuild is no longer running (another process ended it)');
    }
  }

  private async caughtUp(db: SqlSession, liveSchema: string, schema: string): Promise<boolean> {
    const rows: { behind: number }[] = await db.query(
      `SELECT count(*)::int AS behind
         FROM ${quoteIdentifier(liveSchema)}.projection_offsets l
         LEFT JOIN ${quoteIdentifier(schema)}.projection_offsets b USING (projection, topic, partition)
        WHERE l.projection = $1 AND l.topic = $2 AND coalesce(b.next_offset, 0) < l.next_offset`,
      [this.projection.name, this.context.topic],
    );
    return rows[0]?.behind === 0;
  }

  private async waitUntil(done: () => boolean): Promise<void> {
    while (!done()) await this.tick();
  }

  /** One beat of the wait: report, save and check for cancellation, a lost owner and a dead consumer. */
  private async tick(): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (this.options.signal?.aborted) throw new RebuildCancelled('interrupted');
    // Every beat: an owner whose session reported its end stops within a tick. Its session is asked
    // whether it still holds the lock once a second, with a generous answer time: a loaded machine
    // must not fail a healthy rebuild, and the switch checks the lock again behind its fence.
    this.owner.throwIfLost();
    const now = Date.now();
    if (now - this.lastSaved >= SAVE_PROGRESS_EVERY_MS) {
      this.lastSaved = now;
      await this.owner.verify(this.record.id);
      if (this.progress) await this.records.saveProgress(this.record.id, this.progress.snapshot(now));
      await this.throwIfCancelled();
    }
    this.report(false);
    await delay(TICK_MS);
  }

  private async throwIfCancelled(): Promise<void> {
    if (this.options.signal?.aborted) throw new RebuildCancelled('interrupted');
    const { state, cancelRequested } = await this.records.standing(this.record.id);
    if (cancelRequested) throw new RebuildCancelled('an operator asked to cancel');
    if (state !== 'running') throw new RebuildOwnerLost(`the rebuild is ${state}: another process ended it`);
  }

  /** Records how the run ended unless it already had (a request abandoned it); with Postgres gone, the next request will. */
  private async recordEnd(state: 'cancelled' | 'failed', message: string): Promise<void> {
    try {
      await this.records.finish(this.record.id, state, message);
    } catch (error) {
      this.logger.warn(
        `could not record the rebuild as ${state} (${String(error)}): the next request for ${this.projection.name} will, as its owner lock is gone`,
      );
    }
  }

  private report(force: boolean): void {
    const now = Date.now();
    if (!this.progress || !this.options.onProgress || (!force && now - this.lastReported < REPORT_PROGRESS_EVERY_MS))
      return;
    this.lastReported = now;
    this.options.onProgress(this.progress.snapshot(now));
  }

  /** Statistics for the filled generation before readers and the live writers use it; without them it still works, more slowly. */
  private async analyze(schema: string): Promise<void> {
    try {
      await analyzeGeneration(this.context.dataSource.manager, schema);
    } catch (error) {
      this.logger.warn(`could not analyze ${schema} (${String(error)}): its plans wait for autovacuum`);
    }
  }

  /** Drops a generation nobody reads; a lock held elsewhere (an open psql session) leaves it for later, loudly. */
  private async dropQuietly(schema: string, { unlessLive = false } = {}): Promise<void> {
    try {
      await this.context.dataSource.transaction(async (db) => {
        await db.query(`SET LOCAL lock_timeout = '10s'`);
        await (unlessLive ? dropUnlessLive(db, schema) : dropGeneration(db, schema));
      });
    } catch (error) {
      this.logger.warn(
        `could not drop ${schema} (${String(error)}): drop it later with DROP SCHEMA "${schema}" CASCADE`,
      );
    }
  }
}
