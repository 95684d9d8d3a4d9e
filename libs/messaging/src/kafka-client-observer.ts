/**
 * What the Kafka clients of one process report as they work: each request to a broker with its
 * duration (kafkajs' instrumentation events), and the records and bytes they produce and consume.
 * Kept free of any metrics library: `KafkaClientMetrics` turns it into Prometheus metrics.
 */
export interface KafkaClientObserver {
  request(sample: KafkaRequestSample): void;
  /** Records the broker acknowledged, and their bytes as the producer sent them (key, value, headers). */
  produced(topic: string, records: number, bytes: number): void;
  /** Records handed to a handler, and their key and value bytes. */
  consumed(topic: string, records: number, bytes: number): void;
  /** A consumer went back to read a partition again, and why. */
  readAgain(topic: string, reason: ReadAgainReason): void;
}

/**
 * Why a consumer reads a partition again: its handler found a gap before the batch (Kafka resumed past
 * what the store holds), handling a batch read ahead failed, or the periodic check found the store
 * behind what was read (commits lost in a database crash).
 */
export type ReadAgainReason = 'gap' | 'failed' | 'store behind';

export interface KafkaRequestSample {
  readonly client: 'producer' | 'consumer';
  /** The protocol request's name as kafkajs gives it: `Produce`, `Fetch`, `Metadata`, … */
  readonly api: string;
  /** `host:port` of the broker asked. */
  readonly broker: string;
  /** From the request being written to the socket to its response, queueing in kafkajs excluded. */
  readonly seconds: number;
}

/** For processes and tests that export nothing. */
export const ignoreKafkaClient: KafkaClientObserver = {
  request: () => undefined,
  produced: () => undefined,
  consumed: () => undefined,
  readAgain: () => undefined,
};
