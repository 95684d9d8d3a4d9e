import { Logger } from '@nestjs/common';
import type { Consumer, EachBatchPayload, IHeaders } from 'kafkajs';

import { TopicOffsets, type KafkaConnection } from './kafka-connection.js';

export interface ConsumedRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumedRecord[];
  /** Offset the next produced record will get, as of the fetch that returned this batch: for lag. */
  readonly highWatermark: string;
  /**
   * The partition's log end now, asked of the broker. The batch's high watermark can be older than
   * what another member, or a rebuild that switched since, has already applied.
   */
  logEnd(): Promise<string>;
  /** Long batches call this so the group does not evict the member mid-batch. */
  heartbeat(): Promise<void>;
}

/** What the handler did with a batch: applied up to `nextOffset`, or wants to read again from `offset`. */
export type BatchOutcome =
  | { readonly kind: 'applied'; readonly nextOffset: string }
  | { readonly kind: 'rewind'; readonly offset: string };

export interface BatchHandler {
  /** Where to resume each newly assigned partition. The store of record, not Kafka's committed offsets. */
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
}

/**
 * A consumer group member that hands whole partition batches to a handler. Kafka's committed offsets
 * are written after the handler's own commit and serve lag tooling only; on every (re)assignment the
 * member seeks to the handler's stored offsets.
 */
export class BatchConsumer {
  private readonly consumer: Consumer;
  private readonly logger: Logger;
  private readonly offsets: TopicOffsets;

  constructor(
    connection: KafkaConnection,
    private readonly options: BatchConsumerOptions,
    private readonly handler: BatchHandler,
  ) {
    this.consumer = connection.consumer(options.groupId, {
      fetch: options.fetch ?? 'live',
      ...(options.partitions ? { partitions: { topic: options.topic, partitions: options.partitions } } : {}),
    });
    this.logger = new Logger(`BatchConsumer ${options.groupId}`);
    this.offsets = new TopicOffsets(connection);
  }

  async start(): Promise<void> {
    // kafkajs has no rebalance listener; the group-join event is where a member learns its partitions.
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = payload.memberAssignment[this.options.topic] ?? [];
      void this.seekToStored(partitions);
    });
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.options.onFatalError?.(payload.error);
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.options.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.concurrentPartitions ?? 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async stop(): Promise<void> {
    try {
      await this.consumer.disconnect();
    } finally {
      await this.offsets.close();
    }
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (!payload.isRunning() || payload.isStale() || batch.messages.length === 0) return;
    const outcome = await this.handler.handleBatch({
      topic: batch.topic,
      partition: batch.partition,
      highWatermark: batch.highWatermark,
      logEnd: async () => (await this.offsets.logEnd(batch.topic)).get(batch.partition) ?? batch.highWatermark,
      heartbeat: () => payload.heartbeat(),
      records: batch.messages.map((message) => ({
        offset: message.offset,
        key: message.key,
        value: message.value,
        headers: stringHeaders(message.headers),
      })),
    });
    if (outcome.kind === 'rewind') {
      this.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: outcome.offset });
      return;
    }
    payload.resolveOffset(batch.lastOffset());
  }

  private async seekToStored(partitions: readonly number[]): Promise<void> {
    try {
      const offsets = await this.handler.storedOffsets(this.options.topic, partitions);
      for (const partition of partitions) {
        const offset = offsets.get(partition) ?? '0';
        this.consumer.seek({ topic: this.options.topic, partition, offset });
      }
    } catch (error) {
      // Not fatal: every batch is checked against the stored offset and rewinds when it does not line up.
      this.logger.warn(`could not seek to stored offsets: ${String(error)}`);
    }
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) result[name] = first.toString();
  }
  return result;
}
