import { Counter, Histogram } from 'prom-client';

import type { Metrics } from '@app/platform';

import type { KafkaClientObserver, KafkaRequestSample, ReadAgainReason } from './kafka-client-observer.js';

/**
 * The Kafka clients of one process as Prometheus metrics. Request latency is a histogram, so any
 * quantile (the p99 operators alert on) is computed in PromQL over any window and summed across
 * processes, which a client-side summary cannot be. Records and bytes are counters: rates are
 * PromQL's job.
 */
export class KafkaClientMetrics implements KafkaClientObserver {
  private readonly requestDuration: Histogram<'client' | 'api' | 'broker'>;
  private readonly producedRecords: Counter<'topic'>;
  private readonly producedBytes: Counter<'topic'>;
  private readonly consumedRecords: Counter<'topic'>;
  private readonly consumedBytes: Counter<'topic'>;
  private readonly readsAgain: Counter<'topic' | 'reason'>;

  constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.requestDuration = new Histogram({
      name: 'kafka_client_request_duration_seconds',
      help: 'Kafka requests from this process by client, protocol API and broker, from send to response (a Fetch includes up to the 500 ms the broker may wait for records)',
      labelNames: ['client', 'api', 'broker'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.producedRecords = new Counter({
      name: 'kafka_client_produced_records_total',
      help: 'Records this process produced and the broker acknowledged, per topic',
      labelNames: ['topic'],
      registers,
    });
    this.producedBytes = new Counter({
      name: 'kafka_client_produced_bytes_total',
      help: 'Bytes of the records this process produced and the broker acknowledged, per topic: key, value, headers and 64 bytes of record overhead each (the estimate the relay sizes its requests by)',
      labelNames: ['topic'],
      registers,
    });
    this.consumedRecords = new Counter({
      name: 'kafka_client_consumed_records_total',
      help: 'Records this process consumed, per topic, summed over its consumer groups',
      labelNames: ['topic'],
      registers,
    });
    this.consumedBytes = new Counter({
      name: 'kafka_client_consumed_bytes_total',
      help: 'Key and value bytes of the records this process consumed, per topic, summed over its consumer groups',
      labelNames: ['topic'],
      registers,
    });
    this.readsAgain = new Counter({
      name: 'kafka_client_partitions_read_again_total',
      help: "Times this process's consumers went back to read a partition again, per topic and reason: gap (Kafka resumed past what the read store holds), failed (a batch read ahead could not be applied), store behind (the read store lost commits, found by the periodic check)",
      labelNames: ['topic', 'reason'],
      registers,
    });
  }

  request({ client, api, broker, seconds }: KafkaRequestSample): void {
    this.requestDuration.observe({ client, api, broker }, seconds);
  }

  produced(topic: string, records: number, bytes: number): void {
    this.producedRecords.inc({ topic }, records);
    this.producedBytes.inc({ topic }, bytes);
  }

  consumed(topic: string, records: number, bytes: number): void {
    this.consumedRecords.inc({ topic }, records);
    this.consumedBytes.inc({ topic }, bytes);
  }

  readAgain(topic: string, reason: ReadAgainReason): void {
    this.readsAgain.inc({ topic, reason });
  }
}
