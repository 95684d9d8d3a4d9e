import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { KafkaConnection } from '@app/messaging';
import { Metrics } from '@app/platform';
import { ClusterMetrics } from '@app/projection-worker';

import {
  createTestEnvironment,
  eventually,
  placeOrderBody,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const PARTITIONS = 3;
const ORDERS = 12;

/** The value of one sample of `/metrics` text, or undefined when the series is not there. */
function sample(metrics: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const found = Object.fromEntries(
      body.split(/,(?=\w+=")/).map((pair) => {
        const at = pair.indexOf('=');
        return [pair.slice(0, at), JSON.parse(pair.slice(at + 1)) as string];
      }),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value))
      return Number(line.slice(line.indexOf('} ') + 2));
  }
  return undefined;
}

/**
 * Cluster and client metrics as operators scrape them: the worker probes the cluster for its own
 * topics (replication, offsets, log sizes); every app times its Kafka requests and counts what it
 * produces and consumes. Orders go through the real pipeline on the shared broker and a topic of
 * this file's own.
 */
describe('Kafka metrics on /metrics', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  let topic: string;

  const scrape = async (app: RunningSystem['worker']): Promise<string> =>
    (await request(app.getHttpServer()).get('/metrics').expect(200)).text;

  before(async () => {
    env = await createTestEnvironment('kafka_metrics', { partitions: PARTITIONS, relay: 'in-process' });
    topic = env.config.kafka.ordersTopic;
    system = await startSystem({ ...env.config, kafka: { ...env.config.kafka, clusterMetricsIntervalMs: 200 } });
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  it("reports each partition's replication, offsets and log size, and their growth once orders are placed", async () => {
    const before = await eventually(async () => {
      const metrics = await scrape(system.worker);
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const labels = { topic, partition: String(partition) };
        const replicas = sample(metrics, 'kafka_partition_replicas', labels);
        assert.ok(replicas !== undefined && replicas >= 1, `partition ${String(partition)} has replicas`);
        assert.equal(sample(metrics, 'kafka_partition_in_sync_replicas', labels), replicas);
        assert.equal(sample(metrics, 'kafka_partition_under_replicated', labels), 0);
        assert.equal(sample(metrics, 'kafka_partition_under_min_insync_replicas', labels), 0);
        assert.equal(sample(metrics, 'kafka_partition_offline', labels), 0);
        assert.notEqual(sample(metrics, 'kafka_partition_log_size_bytes', labels), undefined);
      }
      assert.ok((sample(metrics, 'kafka_topic_min_insync_replicas', { topic }) ?? 0) >= 1);
      assert.notEqual(
        sample(metrics, 'kafka_partition_replicas', { topic: `${topic}.dlq`, partition: '0' }),
        undefined,
      );
      assert.equal(sample(metrics, 'kafka_cluster_scrape_error', {}), 0);
      return metrics;
    });
    const total = (metrics: string, name: string): number =>
      Array.from({ length: PARTITIONS }, (_, partition) =>
        sample(metrics, name, { topic, partition: String(partition) }),
      ).reduce<number>((sum, value) => sum + (value ?? 0), 0);

    for (let order = 0; order < ORDERS; order++)
      await request(system.commandApi.getHttpServer()).post('/orders').send(placeOrderBody()).expect(201);

    await eventually(async () => {
      const metrics = await scrape(system.worker);
      assert.equal(
        total(metrics, 'kafka_partition_high_watermark') - total(before, 'kafka_partition_high_watermark'),
        ORDERS,
      );
      assert.ok(
        total(metrics, 'kafka_partition_log_size_bytes') > total(before, 'kafka_partition_log_size_bytes'),
        'the log grew',
      );
      // Every projection read every record: four groups in this one process.
      assert.ok((sample(metrics, 'kafka_client_consumed_records_total', { topic }) ?? 0) >= ORDERS);
      assert.ok((sample(metrics, 'kafka_client_consumed_bytes_total', { topic }) ?? 0) > 0);
    });
  });

  it('times produce and fetch requests, and counts what the relay produced', async () => {
    const command = await scrape(system.commandApi);
    assert.ok((sample(command, 'kafka_client_produced_records_total', { topic }) ?? 0) >= ORDERS);
    assert.ok((sample(command, 'kafka_client_produced_bytes_total', { topic }) ?? 0) > 0);
    assert.ok(
      (sample(command, 'kafka_client_request_duration_seconds_count', { client: 'producer', api: 'Produce' }) ?? 0) >=
        1,
      'produce requests were timed',
    );
    const worker = await scrape(system.worker);
    assert.ok(
      (sample(worker, 'kafka_client_request_duration_seconds_count', { client: 'consumer', api: 'Fetch' }) ?? 0) >= 1,
      'fetch requests were timed',
    );
    // A histogram, so that PromQL can take the p99 of any window across processes.
    assert.notEqual(
      sample(worker, 'kafka_client_request_duration_seconds_bucket', { client: 'consumer', api: 'Fetch', le: '0.5' }),
      undefined,
    );
  });

  it('marks a failed probe and carries on', async () => {
    const metrics = new Metrics('probe-test');
    const unreachable = { ...env.config.kafka, brokers: ['127.0.0.1:1'] };
    const cluster = new ClusterMetrics(
      { ...env.config, kafka: unreachable },
      new KafkaConnection(unreachable),
      metrics,
    );
    await cluster.refresh();
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'kafka_cluster_scrape_error', {}), 1);
    assert.equal(sample(text, 'kafka_cluster_scrape_errors_total', {}), 1);
    assert.doesNotMatch(text, /^kafka_partition_in_sync_replicas\{/m);
    await cluster.onApplicationShutdown();
  });
});
