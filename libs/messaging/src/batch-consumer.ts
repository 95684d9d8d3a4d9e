import { setTimeout as delay } from 'node:timers/promises';

import { Logger } from '@nestjs/common';
import type { Consumer, EachBatchPayload, IHeaders } from 'kafkajs';

import { utf8Text } from './envelope.js';
import { TopicOffsets, type KafkaConnection } from './kafka-connection.js';
import type { ReadAgainReason } from './kafka-client-observer.js';
import { PartitionQueues } from './partition-queues.js';

/** A record as read from a partition, with where it came from. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Headers whose value is not valid UTF-8 (kept in `headers` with replacement characters). */
  readonly unreadableHeaders?: readonly string[];
}

/**
 * What one fetch (or a run of fetches with nothing to deliver) read from one partition. Offsets have
 * gaps: transaction markers, aborted transactional records and records removed by delete-records are
 * never delivered, so progress is tracked by the fetch (`fetchedFrom` to `lastOffset`), not by the
 * records. A batch may have no records at all: everything it covered was invisible.
 */
export interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumedRecord[];
  /**
   * Where the consumer's contiguous read that led to this batch began: every offset from here to
   * `lastOffset` was read, and those not among `records` hold nothing to deliver.
   */
  readonly fetchedFrom: string;
  /** The last offset the fetch covered, at or past the last record's (a marker may follow it). */
  readonly lastOffset: string;
  /** Offset the next produced record will get, as of the fetch that returned this batch: for lag. */
  readonly highWatermark: string;
  /**
   * The partition's log end now, asked of the broker. The batch's high watermark can be older than
   * what another member, or a rebuild that switched since, has already applied.
   */
  logEnd(): Promise<string>;
  /** The partition's first offset still in the log, asked of the broker: below it, records were deleted. */
  logStart(): Promise<string>;
  /** Long batches call this so the group does not evict the member mid-batch. */
  heartbeat(): Promise<void>;
}

/** What the handler did with a batch: applied up to `nextOffset`, or wants to read again from `offset`. */
export type BatchOutcome =
  { readonly kind: 'applied'; readonly nextOffset: string } | { readonly kind: 'rewind'; readonly offset: string };

export interface BatchHandler {
  /**
   * Where each partition stands in the store of record (not Kafka's committed offsets), read afresh
   * on every call: where a newly assigned partition resumes, and what the consumer's periodic check
   * seeks an idle partition back to (`auditIntervalMs`). An answer that lags what was applied makes
   * the consumer read those records again.
   */
  storedOffsets(topic: string, partitions: readonly number[]): Promise<ReadonlyMap<number, string>>;
  handleBatch(batch: PartitionBatch): Promise<BatchOutcome>;
}

export interface BatchConsumerOptions {
  readonly groupId: string;
  readonly topic: string;
  /** `bulk` fetches megabytes per partition: for replays, which read the log from the start. */
  readonly fetch?: 'live' | 'bulk';
  /** Read only these partitions of the topic (a single-order replay reads one). */
  readonly partitions?: readonly number[];
  /** Called when the consumer stops for good after an error (kafkajs restarts it after retriable ones). */
  readonly onFatalError?: (error: Error) => void;
  /**
   * Batches of this many partitions handled at once (default 1), each in order within its partition.
   * A fetch returns a batch per partition; handled one by one, the last waits for all the others'
   * transactions, which is most of a live projection's delay under load.
   */
  readonly concurrentPartitions?: number;
  /**
   * Hand batches over after kafkajs has moved past them, at most this many waiting or being handled
   * (default: none, each is handled before kafkajs goes on). kafkajs fetches again only once every
   * batch of its last fetch was handled, so without it the reader waits for the last transaction of
   * each fetch, and Postgres for the fetch: for bulk reads (rebuilds). The handler's stored offsets
   * still decide: a batch that does not follow them is read again, as after any seek.
   */
  readonly readAhead?: number;
  /**
   * After applying a fetch, fetch again no sooner than this long after it returned (default
   * 0; not with `readAhead`): under load, the next fetch brings what arrived meanwhile, applied in
   * one transaction, instead of a fetch and a transaction per record or two. The first record after
   * a quiet spell is handed over at once. Kafka's consumer `fetch.min.bytes` with `fetch.max.wait.ms`
   * does the like on the broker, but would wake idle consumers every few milliseconds.
   */
  readonly lingerMs?: number;
  /**
   * How often the read position of each partition with nothing under way is checked against the
   * handler's stored offsets (default 5 s; 0: never). A store that commits asynchronously loses its
   * last commits in a crash, offsets and rows together, while kafkajs reads on from where it was; a
   * later batch of the partition would show the gap (and rewind), but a partition that gets nothing
   * more would keep it. The check seeks such a partition back to what the store holds.
   */
  readonly auditIntervalMs?: number;
}

/** After a batch read ahead failed, how long its partition waits before it is read again. */
const READ_AGAIN_AFTER_MS = 500;

/** How soon, and at most how often, an assignment's seek asks the store again after it failed. */
const SEEK_RETRY_FIRST_MS = 200;
const SEEK_RETRY_MAX_MS = 5_000;

/** How often Kafka's committed offsets (for lag tooling) follow the handler's stored ones. */
const KAFKA_COMMIT_INTERVAL_MS = 5_000;

/** How often, by default, idle partitions' read positions are checked against the stored offsets. */
const AUDIT_INTERVAL_MS = 5_000;

/** A check whose store has not answered in this long gives up (a half-open connection), so the next can run. */
const AUDIT_ANSWER_TIMEOUT_MS = 30_000;

/**
 * A consumer group member that hands whole partition batches to a handler. Kafka's committed offsets
 * are written after the handler's own commit and serve lag tooling only; on every (re)assignment the
 * member seeks to the handler's stored offsets.
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  private readonly logger: Logger;
  private readonly offsets: TopicOffsets;
  /** Per partition: the contiguous read since the last seek or handed-over batch. */
  private readonly reads = new Map<number, ContiguousRead>();
  /**
   * Per partition: handling that kafkajs does not wait for (batches it filtered out entirely, and
   * batches read ahead), which later batches of the partition wait for.
   */
  private readonly queues: PartitionQueues;
  private stopping = false;
  /** Aborted by stop: a linger under way ends at once. */
  private readonly stopped = new AbortController();
  /** When kafkajs' last fetch returned (its FETCH event comes before the fetch's batches). */
  private fetchedAt = 0;
  /** Per partition: the next offset handled since Kafka's committed offset was last moved (for lag tooling). */
  private readonly uncommitted = new Map<number, string>();
  /** The partitions of the last assignment. */
  private assigned = new Set<number>();
  /** Assignments so far: a seek for an older one gives way to the newer one's. */
  private joins = 0;
  private readonly committer = setInterval(() => void this.commitProgress(), KAFKA_COMMIT_INTERVAL_MS).unref();
  /**
   * Per partition: seeks so far. Queued handling whose partition was sought meanwhile is dropped: the
   * seek reads its range again, and handled it would only ask to rewind (or fail) once more.
   */
  private readonly seeks = new Map<number, number>();
  /** Partitions whose batch kafkajs is waiting for the handler to apply (queued handling is the queues'). */
  private readonly handling = new Set<number>();
  private readonly auditor: NodeJS.Timeout | undefined;
  /** The check under way, if any: one at a time, and stop waits for it. */
  private auditing: Promise<void> | undefined;

  constructor(
    private readonly connection: KafkaConnection,
    private readonly options: BatchConsumerOptions,
    private readonly handler: BatchHandler,
  ) {
    this.consumer = connection.consumer(options.groupId, {
      fetch: options.fetch ?? 'live',
      ...(options.partitions ? { partitions: { topic: options.topic, partitions: options.partitions } } : {}),
    });
    this.logger = new Logger(`BatchConsumer ${options.groupId}`);
    this.offsets = new TopicOffsets(connection);
    this.queues = new PartitionQueues(options.concurrentPartitions ?? 1, options.readAhead ?? Infinity);
    const auditMs = options.auditIntervalMs ?? AUDIT_INTERVAL_MS;
    if (auditMs > 0)
      this.auditor = setInterval(() => {
        this.auditing ??= this.audit().finally(() => (this.auditing = undefined));
      }, auditMs).unref();
  }

  async start(): Promise<void> {
    // kafkajs has no rebalance listener; the group-join event is where a member learns its partitions.
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = payload.memberAssignment[this.options.topic] ?? [];
      this.reads.clear(); // where a partition is read from is unknown until the seek
      // Progress on partitions now another member's is theirs to commit: never move their offsets back.
      this.assigned = new Set(partitions);
      for (const partition of [...this.uncommitted.keys()])
        if (!this.assigned.has(partition)) this.uncommitted.delete(partition);
      void this.seekToStored(partitions, ++this.joins);
    });
    // kafkajs resolves a batch whose records were all filtered out (only markers or aborted records)
    // itself and never hands it to eachBatch; its batch events are the only sign that it was read.
    this.consumer.on(this.consumer.events.START_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === this.options.topic && payload.batchSize === 0) this.onFilteredBatch(payload);
    });
    if ((this.options.lingerMs ?? 0) > 0)
      this.consumer.on(this.consumer.events.FETCH, () => {
        this.fetchedAt = performance.now();
      });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.options.onFatalError?.(payload.error);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      // Kafka's committed offsets serve lag tooling only (the handler's store is the record), so they
      // are committed every few seconds (commitProgress), not by kafkajs after every batch: that is a
      // request and a write to the broker's offsets log per batch, the broker's largest cost per event.
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrentPartitions ?? 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.committer);
    clearInterval(this.auditor);
    this.stopping = true; // batches still queued are not handled
    this.stopped.abort();
    try {
      await Promise.all([this.queues.drained(), this.auditing]);
      await this.commitProgress();
      await this.consumer.disconnect();
    } finally {
      await this.offsets.close();
    }
  }

  /**
   * Moves the group's committed offsets in Kafka to what the handler has stored. Best effort: after a
   * rebalance the partition may be another member's, whose own commit will move it.
   */
  private async commitProgress(): Promise<void> {
    if (this.uncommitted.size === 0) return;
    const taken = new Map(this.uncommitted);
    this.uncommitted.clear();
    const offsets = [...taken].map(([partition, offset]) => ({ topic: this.options.topic, partition, offset }));
    await this.consumer.commitOffsets(offsets).catch((error: unknown) => {
      // Next time, unless a newer batch (or a new assignment) has replaced them meanwhile.
      for (const [partition, offset] of taken)
        if (!this.uncommitted.has(partition) && this.assigned.has(partition)) this.uncommitted.set(partition, offset);
      this.logger.debug(`could not commit offsets for lag tooling: ${String(error)}`);
    });
  }

  /**
   * kafkajs fetches again only once every batch of its last fetch was handled. An applied batch
   * lingers until its fetch is `lingerMs` old, so the batches of a fetch wait together, once: with
   * more partitions than `concurrentPartitions`, the later rounds find the time passed. With
   * several brokers kafkajs fetches from each on its own and the latest fetch counts, so a batch may
   * wait until another broker's fetch is `lingerMs` old: never longer than `lingerMs` from now.
   * No heartbeat goes out meanwhile, so a linger must stay well inside the session timeout (the
   * configuration allows at most 1 s).
   */
  private async onBatch(payload: EachBatchPayload): Promise<void> {
    if (await this.handOver(payload))
      await this.linger(this.fetchedAt + (this.options.lingerMs ?? 0) - performance.now());
  }

  /** Hands a batch to the handler (or queues it, reading ahead); true when it was applied here and now. */
  private async handOver(payload: EachBatchPayload): Promise<boolean> {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0 || this.stopping) return false;
    const readAhead = this.options.readAhead !== undefined;
    if (!readAhead) await this.queues.settled(batch.partition); // a filtered batch before this one is handled first
    // kafkajs' Batch has the offset it fetched from, but its types do not say so.
    const fetchedOffset =
      (batch as { fetchedOffset?: string }).fetchedOffset ?? batch.firstOffset() ?? batch.messages[0]?.offset ?? '0';
    const lastOffset = batch.lastOffset();
    const { topic, partition, highWatermark, messages } = batch;
    const fetchedFrom = this.readFrom(partition, fetchedOffset);
    const toHand = (): PartitionBatch => ({
      ...this.partitionOf(topic, partition, highWatermark),
      fetchedFrom,
      lastOffset,
      heartbeat: () => payload.heartbeat(),
      records: messages.map((message) =>
        consumedRecord(topic, partition, message.offset, message.key, message.value, message.headers),
      ),
    });
    let bytes = 0;
    for (const { key, value } of messages) bytes += (key?.length ?? 0) + (value?.length ?? 0);
    this.connection.observer.consumed(topic, messages.length, bytes);
    if (readAhead) {
      // Its records are made when its turn comes: made now and held ahead, they would survive young
      // collections and be copied (a replay's garbage collection fell by a seventh).
      this.handleLater(partition, fetchedFrom, lastOffset, toHand);
      payload.resolveOffset(lastOffset);
      await this.queues.whenRoom();
      return false;
    }
    const handed = toHand();
    let outcome: BatchOutcome;
    this.handling.add(partition);
    try {
      outcome = await this.handler.handleBatch(handed);
    } finally {
      this.handling.delete(partition);
    }
    if (outcome.kind === 'rewind') {
      // In kafkajs' own callback a failed seek is kafkajs' to handle, so not `readAgain`, which swallows it.
      this.seek(partition, outcome.offset);
      this.connection.observer.readAgain(this.options.topic, 'gap');
      return false;
    }
    const next = (BigInt(lastOffset) + 1n).toString();
    this.reads.set(partition, { from: next, next });
    payload.resolveOffset(lastOffset);
    if (this.assigned.has(partition)) this.uncommitted.set(partition, next);
    return true;
  }

  /** Holds kafkajs' next fetch for `ms` (none for 0 or less), unless the consumer stops meanwhile. */
  private async linger(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping) return;
    await delay(ms, undefined, { signal: this.stopped.signal }).catch(() => undefined);
  }

  /**
   * Queues a batch behind its partition's earlier ones, for a handler kafkajs does not wait for. The
   * read is taken as contiguous at once, so the next fetch of the partition follows on; a batch whose
   * handling fails or asks to rewind has its partition read again from there.
   */
  private handleLater(partition: number, fetchedFrom: string, lastOffset: string, toHand: () => PartitionBatch): void {
    const next = (BigInt(lastOffset) + 1n).toString();
    this.reads.set(partition, { from: next, next });
    const seeks = this.seeksOf(partition);
    this.queues.enqueue(partition, async () => {
      if (this.stopping || this.seeksOf(partition) !== seeks) return;
      try {
        const outcome = await this.handler.handleBatch(toHand());
        if (outcome.kind === 'rewind') this.readAgain(partition, outcome.offset, 'gap');
        else if (this.assigned.has(partition)) this.uncommitted.set(partition, outcome.nextOffset);
      } catch (error) {
        this.logger.warn(
          `could not handle offsets ${fetchedFrom} to ${lastOffset} of partition ${String(partition)}, reading them again: ${String(error)}`,
        );
        await delay(READ_AGAIN_AFTER_MS); // the partition's later batches wait too: they would not follow on
        if (!this.isStopping()) this.readAgain(partition, fetchedFrom, 'failed');
      }
    });
  }

  /**
   * A fetch that returned only invisible records: the handler still learns that the range was read,
   * so a stored offset can move across a marker that ends the log (a rebuild's high-water mark may
   * sit on one). Queued per partition: the partition's next batch waits for it.
   */
  private onFilteredBatch(payload: {
    partition: number;
    highWatermark: string;
    firstOffset: string | null;
    lastOffset: string;
  }): void {
    const { partition, highWatermark, lastOffset } = payload;
    const fetchedFrom = this.readFrom(partition, payload.firstOffset ?? lastOffset);
    const next = (BigInt(lastOffset) + 1n).toString();
    this.reads.set(partition, { from: fetchedFrom, next });
    const seeks = this.seeksOf(partition);
    this.queues.enqueue(partition, async () => {
      if (this.seeksOf(partition) !== seeks) return;
      await this.handler
        .handleBatch({
          ...this.partitionOf(this.options.topic, partition, highWatermark),
          fetchedFrom,
          lastOffset,
          heartbeat: () => Promise.resolve(),
          records: [],
        })
        .then(
          (outcome) => {
            if (outcome.kind === 'rewind') this.readAgain(partition, outcome.offset, 'gap');
            else if (this.assigned.has(partition)) this.uncommitted.set(partition, outcome.nextOffset);
          },
          (error: unknown) => {
            // kafkajs has moved past the range already, and at a log end nothing else would cover it: read it again.
            this.logger.warn(
              `could not record offsets up to ${lastOffset} of partition ${String(partition)}, reading them again: ${String(error)}`,
            );
            this.readAgain(partition, fetchedFrom, 'failed');
          },
        );
    });
  }

  /**
   * Seeks back each assigned partition whose read position is past the handler's stored offset
   * while nothing of it is under way: what the store lost (an asynchronous commit in a database
   * crash) is read again. A partition whose position moved, or that was assigned anew, while the
   * store answered is left to the next check; a seek in vain costs a read of records that are then
   * skipped as already applied.
   */
  private async audit(): Promise<void> {
    if (this.stopping) return;
    const idle = (partition: number): boolean => !this.handling.has(partition) && this.queues.idle(partition);
    const positions = [...this.assigned].flatMap((partition) => {
      const read = this.reads.get(partition);
      return read !== undefined && idle(partition) ? [{ partition, read }] : [];
    });
    if (positions.length === 0) return;
    try {
      const partitions = positions.map(({ partition }) => partition);
      const stored = await answerWithin(
        this.handler.storedOffsets(this.options.topic, partitions),
        AUDIT_ANSWER_TIMEOUT_MS,
      );
      if (this.isStopping()) return;
      for (const { partition, read } of positions) {
        const offset = stored.get(partition) ?? '0';
        // Every change of a partition's read replaces its entry; a new assignment clears them all.
        const moved = this.reads.get(partition) !== read || !idle(partition);
        if (moved || BigInt(offset) >= BigInt(read.next)) continue;
        this.logger.warn(
          `partition ${String(partition)} was read up to offset ${read.next} but the store holds ${offset} (commits lost in a database crash?): reading again from there`,
        );
        this.readAgain(partition, offset, 'store behind');
      }
    } catch (error) {
      this.logger.debug(`could not check the stored offsets, trying again later: ${String(error)}`);
    }
  }

  /** A method, not the field: the compiler would take the field as still false after an await. */
  private isStopping(): boolean {
    return this.stopping;
  }

  /** Where the contiguous read that reached `fetchedOffset` began: earlier when only invisible records came before. */
  private readFrom(partition: number, fetchedOffset: string): string {
    const read = this.reads.get(partition);
    return read !== undefined && read.next === fetchedOffset ? read.from : fetchedOffset;
  }

  private partitionOf(
    topic: string,
    partition: number,
    highWatermark: string,
  ): Pick<PartitionBatch, 'topic' | 'partition' | 'highWatermark' | 'logEnd' | 'logStart'> {
    return {
      topic,
      partition,
      highWatermark,
      logEnd: async () => (await this.offsets.logEnd(topic)).get(partition) ?? highWatermark,
      logStart: async () => (await this.offsets.logStart(topic)).get(partition) ?? '0',
    };
  }

  private seek(partition: number, offset: string): void {
    this.seeks.set(partition, this.seeksOf(partition) + 1);
    this.reads.set(partition, { from: offset, next: offset });
    this.consumer.seek({ topic: this.options.topic, partition, offset });
  }

  /**
   * Reads a partition again from `offset`, counted by why (`kafka_client_partitions_read_again_total`).
   * A seek from outside kafkajs' own callbacks: the consumer may be stopping meanwhile, and then there
   * is nothing to read again.
   */
  private readAgain(partition: number, offset: string, reason: ReadAgainReason): void {
    try {
      this.seek(partition, offset);
    } catch (error) {
      this.logger.warn(`could not seek partition ${String(partition)} to ${offset}: ${String(error)}`);
      return;
    }
    this.connection.observer.readAgain(this.options.topic, reason);
  }

  private seeksOf(partition: number): number {
    return this.seeks.get(partition) ?? 0;
  }

  /**
   * Seeks the assigned partitions to the handler's stored offsets, asking again until the store
   * answers (a database down at the assignment): until then kafkajs reads from Kafka's committed
   * offsets, which may be past what the store holds (a read-model commit lost in a database crash),
   * and a partition that gets no new record would never be checked against the store and rewound.
   * Each try reads the offsets afresh, so a late seek goes where the store is then.
   */
  private async seekToStored(partitions: readonly number[], join: number): Promise<void> {
    const current = (): boolean => join === this.joins && !this.isStopping();
    for (let attempt = 1; current(); attempt++) {
      try {
        const offsets = await this.handler.storedOffsets(this.options.topic, partitions);
        if (!current()) return;
        for (const partition of partitions) this.seek(partition, offsets.get(partition) ?? '0');
        if (attempt > 1) this.logger.log(`sought to stored offsets after ${String(attempt)} tries`);
        return;
      } catch (error) {
        if (attempt === 1)
          this.logger.warn(`could not read stored offsets, trying again until the store answers: ${String(error)}`);
        await delay(Math.min(SEEK_RETRY_MAX_MS, SEEK_RETRY_FIRST_MS * 2 ** (attempt - 1)), undefined, { ref: false });
      }
    }
  }
}

/** What `answer` settles with, or a rejection once `ms` have passed first (a late answer is then ignored). */
async function answerWithin<T>(answer: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer in ${String(ms)} ms`));
    }, ms).unref();
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Offsets `from` up to `next` (exclusive) were read without a break. */
interface ContiguousRead {
  readonly from: string;
  readonly next: string;
}

/** One object per record, made once: a replay makes hundreds of thousands a second. */
function consumedRecord(
  topic: string,
  partition: number,
  offset: string,
  key: Buffer | null,
  value: Buffer | null,
  raw: IHeaders | undefined,
): ConsumedRecord {
  const headers: Record<string, string> = {};
  let unreadable: string[] | undefined;
  for (const name in raw) {
    const header = raw[name];
    const first = Array.isArray(header) ? header[0] : header;
    if (first === undefined) continue;
    const text = typeof first === 'string' ? first : utf8Text(first);
    if (text === undefined) (unreadable ??= []).push(name);
    headers[name] = text ?? first.toString();
  }
  return unreadable === undefined
    ? { topic, partition, offset, key, value, headers }
    : { topic, partition, offset, key, value, headers, unreadableHeaders: unreadable };
}
