import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { CommandApiModule } from '@app/command-api';
import type { OrderEventType } from '@app/orders-domain';
import { projections } from '@app/projections';
import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  describeGroup,
  eventually,
  loadUntil,
  reportFigure,
  seededRandom,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const PARTITIONS = 6;

/**
 * Scenario 5: a worker frozen with SIGSTOP (a long GC pause, a stalled VM) outlives its session; the
 * group gives its partitions to a second worker, which applies the load that goes on meanwhile.
 * When the first one thaws it still believes it owns them, and may hold a fetched batch: it must
 * change nothing, because every batch locks its partition's stored offset and applies only records
 * at or past it.
 */
describe('fault: a worker paused past its session timeout while another takes its partitions', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  const workers: AppProcess[] = [];

  before(async () => {
    env = await createTestEnvironment('stale_worker', { partitions: PARTITIONS });
    commandApi = await startTestApp(CommandApiModule, env.config);
  });

  after(async () => {
    for (const worker of workers) worker.signal('SIGCONT');
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
    await commandApi.close();
    await env.dispose();
  });

  const topic = (): string => env.config.kafka.ordersTopic;
  const groups = (): string[] =>
    projections.map((projection) => `${env.config.kafka.groupPrefix}projection.${projection.name}`);
  const startWorker = async (): Promise<AppProcess> => {
    const worker = new AppProcess('projection-worker', env.config);
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  /** Waits until every projection group is stable with `count` members holding all partitions; returns the member ids. */
  const membersSettle = (count: number, excluding: ReadonlySet<string> = new Set()): Promise<Set<string>> =>
    eventually(
      async () => {
        const ids = new Set<string>();
        for (const group of groups()) {
          const { state, members } = await describeGroup(env.kafka, group, topic());
          assert.equal(state, 'Stable', `${group} is stable`);
          assert.equal(members.length, count, `${group} has ${String(count)} members`);
          assert.equal(
            members.flatMap((member) => member.partitions).length,
            PARTITIONS,
            `${group} assigns every partition`,
          );
          for (const member of members) {
            assert.ok(!excluding.has(member.memberId), `${group}: ${member.memberId} is gone`);
            ids.add(member.memberId);
          }
        }
        return ids;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  /** Sum of stored offsets per projection. */
  const appliedUpTo = async (): Promise<Map<string, number>> => {
    const { rows } = await env.readDb.query<{ projection: string; applied: string }>(
      'SELECT projection, sum(next_offset)::text AS applied FROM projection_offsets WHERE topic = $1 GROUP BY projection',
      [topic()],
    );
    return new Map(rows.map((row) => [row.projection, Number(row.applied)]));
  };
  /** Everything the projections have written, bookkeeping included. */
  const digest = async (): Promise<string> => {
    const { rows } = await env.readDb.query<{ digest: string }>(
      `SELECT md5(concat_ws('|',
         (SELECT string_agg(v::text, ',' ORDER BY order_id) FROM order_view v),
         (SELECT string_agg(c::text, ',' ORDER BY customer_id) FROM customer_summary c),
         (SELECT string_agg(s::text, ',' ORDER BY granularity, bucket_start, currency) FROM sales_buckets s),
         (SELECT string_agg(o::text, ',' ORDER BY projection, topic, partition) FROM projection_offsets o),
         (SELECT string_agg(p::text, ',' ORDER BY projection, order_id) FROM projection_order_versions p))) AS digest`,
    );
    return rows[0]?.digest ?? '';
  };
  /** A counter of the worker's /metrics, summed over its labels. */
  const counter = async (worker: AppProcess, name: string): Promise<number> => {
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    const samples = text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
    assert.ok(samples.length > 0, `${name} is exposed`);
    return samples.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  };
  const ALREADY_APPLIED = 'projection_records_already_applied_total';

  it('the thawed worker changes nothing; the read models equal the fold', async () => {
    const acknowledged = new AcknowledgedCommands();
    const onAcknowledged = (orderId: string, version: number, eventType: OrderEventType): void => {
      acknowledged.record(orderId, version, eventType);
    };
    const stale = await startWorker();
    const staleMembers = await membersSettle(1);
    const stop = { done: false };
    const load = loadUntil(commandApi.getHttpServer(), 55, stop, { onAcknowledged });

    // Freeze it at a seeded moment, between two of its transactions: mid-transaction it would hold
    // its partition's offset lock, and the second worker would rightly wait for it.
    const random = seededRandom(5);
    let attempts = 0;
    for (;;) {
      attempts++;
      await new Promise((resolve) => setTimeout(resolve, 500 + Math.floor(random() * 1_000))); // a seeded moment under load
      // As the only member it has never been handed records it had applied: the count below is the stale batch's.
      assert.equal(
        await counter(stale, ALREADY_APPLIED),
        0,
        'the only member was never handed a batch already applied',
      );
      stale.signal('SIGSTOP');
      // Every connection of the worker's (its pools are named `projection-worker` and `projection-worker:<projection>`).
      const { rows } = await env.readDb.query<{ connections: number; busy: number }>(
        `SELECT count(*)::int AS connections, count(*) FILTER (WHERE state <> 'idle')::int AS busy
           FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'projection-worker%'`,
      );
      assert.ok((rows[0]?.connections ?? 0) > 0, "the worker's connections are found by name");
      if (rows[0]?.busy === 0) break;
      stale.signal('SIGCONT');
      assert.ok(attempts < 200, 'found the worker between transactions');
    }
    const pausedAt = await appliedUpTo();

    // Past its session timeout the group drops it and the second worker takes every partition.
    const successor = await startWorker();
    await membersSettle(1, staleMembers);
    await eventually(
      async () => {
        const now = await appliedUpTo();
        for (const projection of projections) {
          assert.ok(
            (now.get(projection.name) ?? 0) >= (pausedAt.get(projection.name) ?? 0) + 20,
            `${projection.name} moved on without the paused worker`,
          );
        }
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    stop.done = true;
    await load;
    // The successor has applied the whole log; what the stale worker may still hold is all applied.
    const admin = env.kafka.admin();
    await admin.connect();
    const logEnd = (await admin.fetchTopicOffsets(topic()).finally(() => admin.disconnect())).reduce(
      (sum, partition) => sum + Number(partition.high),
      0,
    );
    await eventually(
      async () => {
        for (const [projection, applied] of await appliedUpTo())
          assert.equal(applied, logEnd, `${projection} is at the log end`);
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const before = await digest();

    stale.signal('SIGCONT');
    // Its fetch positions are those of the freeze, every projection at least 20 records behind what
    // its successor stored (asserted above): whatever it runs before it learns it was dropped is a
    // stale batch, which the offset lock fences and the worker counts. Whether it runs one first is
    // kafkajs's timing (a fetch timed out by the freeze is retried from those positions, or the
    // next heartbeat tells it first), so the count is reported, and the digest below is the check.
    // It finds it was dropped and joins again: by then it has run whatever it held.
    await membersSettle(2);
    const staleRecords = await counter(stale, ALREADY_APPLIED);
    assert.equal(await digest(), before, 'the thawed worker changed no row and no offset');
    // A stale batch is not a lost log: no false alarm that would tell operators to rebuild.
    const alarms = [...stale.log, ...successor.log].filter((line) => line.includes('LogBehindReadModel'));
    assert.deepEqual(alarms.slice(0, 3), [], 'no worker mistook a stale batch for a lost log');

    // Both go on working together.
    await loadUntil(commandApi.getHttpServer(), 56, { done: false }, { onAcknowledged, max: 30 });
    const figures = await assertGuarantees(env, acknowledged);
    reportFigure('stale-worker', {
      pausedPastSessionTimeout: true,
      partitionsTakenOver: PARTITIONS,
      staleRecordsFenced: staleRecords,
      rowsChangedByStaleWorker: 0,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
    await Promise.all([stale.stop(), successor.stop()]);
  });
});
