import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Logger } from '@nestjs/common';
import pg from 'pg';

import { CommandApiModule } from '@app/command-api';
import { OutboxRelay, RELAY_LOCK_ID, type RecordPublisher } from '@app/event-store';
import { EventPublisher, ORDER_EVENTS, orderEventsTopic } from '@app/messaging';
import {
  AcknowledgedCommands,
  AppProcess,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  loadUntil,
  reportFigure,
  seededRandom,
  startTestApp,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const LOSSES = 4;
const BATCH = 50;
const RELAYS = ['relay-a', 'relay-b'] as const;
type RelayName = (typeof RELAYS)[number];

interface Publish {
  readonly relay: RelayName;
  /** The leadership term the relay was in when it started the publish; 0 when it did not lead. */
  readonly term: number;
  readonly eventIds: readonly string[];
  landed: boolean;
}

/**
 * What the two relays did, in the order they did it: each leadership term (numbered in the order
 * they began), each loss of the lead as the relay itself noticed it, and each publish it started.
 */
class Journal {
  readonly publishes: Publish[] = [];
  readonly losses: { relay: RelayName; term: number }[] = [];
  private terms = 0;
  private readonly leading = new Map<RelayName, number>();

  get term(): number {
    return this.terms;
  }

  lead(relay: RelayName): void {
    this.leading.set(relay, ++this.terms);
  }

  lost(relay: RelayName): void {
    this.losses.push({ relay, term: this.leading.get(relay) ?? 0 });
    this.leading.delete(relay);
  }

  started(relay: RelayName, eventIds: readonly string[]): Publish {
    const publish = { relay, term: this.leading.get(relay) ?? 0, eventIds, landed: false };
    this.publishes.push(publish);
    return publish;
  }

  leader(): RelayName | undefined {
    return [...this.leading.keys()][0];
  }
}

/**
 * Scenario: two outbox relays of one database under a steady command load; the leader loses its
 * lock four times, its session's backend terminated by an operator. The first loss is aimed: the
 * leader has published a batch and waits to delete it (the test holds row locks on the outbox), so
 * the new leader publishes that batch again. The others land at seeded points of the new term: after
 * its first, second or third batch the broker acknowledged.
 *
 * The relays run in this process, so that every publish is attributed to the relay and the
 * leadership term it started in. A relay that noticed its loss must start no publish, and no
 * publish of a term may start after the next term's first one; the duplicates on the topic are
 * exactly the batches the old leaders published and could not record.
 */
describe('fault: the outbox relay leader loses its lock under load', () => {
  let env: TestEnvironment;
  let commandApi: TestApp;
  let worker: AppProcess | undefined;
  const relays: OutboxRelay[] = [];
  const locker = { client: undefined as pg.Client | undefined };
  const journal = new Journal();

  before(async () => {
    env = await createTestEnvironment('relay_fencing', { partitions: 3, relayEnabled: false });
    commandApi = await startTestApp(CommandApiModule, env.config);
  });

  after(async () => {
    await locker.client?.end().catch(() => undefined);
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
    await worker?.stop('SIGKILL');
    await commandApi.close();
    await env.dispose();
    Logger.overrideLogger(['log', 'error', 'warn']);
  });

  const startRelay = (name: RelayName): OutboxRelay => {
    const inner = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    const publisher: RecordPublisher = {
      publish: async (records) => {
        const publish = journal.started(
          name,
          records.map((record) => record.headers['event-id'] ?? ''),
        );
        await inner.publish(records);
        publish.landed = true;
      },
      close: () => inner.close(),
    };
    const relay = new OutboxRelay(publisher, {
      databaseUrl: env.config.databaseUrl,
      contract: ORDER_EVENTS,
      pollIntervalMs: 100,
      batchSize: BATCH,
      leaseMs: env.config.relay.leaseMs,
      leadership: (leading) => {
        if (leading) journal.lead(name);
        else journal.lost(name);
      },
    });
    relays.push(relay);
    relay.start();
    return relay;
  };

  /** The backend of the session that holds the leader lock. */
  const leaderBackend = async (): Promise<number> => {
    const { rows } = await env.db.query<{ pid: number }>(
      `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objid::bigint = $1 AND l.granted
          AND a.datname = current_database() AND a.application_name = 'outbox-relay'`,
      [RELAY_LOCK_ID],
    );
    assert.equal(rows.length, 1, 'one session holds the leader lock');
    return rows[0]?.pid ?? 0;
  };

  /** Waits until a term after `term` has begun, published, and recorded everything earlier terms left in the outbox. */
  const nextTermPublished = async (term: number): Promise<void> => {
    await eventually(
      async () => {
        const current = journal.term;
        assert.ok(current > term && journal.leader() !== undefined, 'a relay leads again');
        assert.ok(
          journal.publishes.some((p) => p.term === current && p.landed),
          'the new leader has published',
        );
        const earlier = journal.publishes.filter((p) => p.term < current).flatMap((p) => p.eventIds);
        const { rows } = await env.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM outbox o JOIN events e USING (position) WHERE e.event_id = ANY($1::uuid[])',
          [earlier],
        );
        assert.equal(rows[0]?.n, 0, 'what earlier terms published has left the outbox');
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
  };

  /** Aimed loss: the leader has published a batch and waits on the test's row locks to delete it. */
  const loseWhileRecording = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: env.config.databaseUrl });
    locker.client = client;
    await client.connect();
    await eventually(
      async () => {
        await client.query('BEGIN');
        const { rowCount } = await client.query('SELECT position FROM outbox ORDER BY position FOR UPDATE');
        if ((rowCount ?? 0) > 0) return;
        await client.query('ROLLBACK');
        assert.fail('no unpublished event to lock yet');
      },
      { timeoutMs: 30_000, intervalMs: 10 },
    );
    const blocked = await eventually(
      async () => {
        const { rows } = await env.db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'outbox-relay'
            AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM outbox%'`,
        );
        assert.equal(rows.length, 1, 'the leader waits to record its published batch');
        return rows[0]?.pid ?? 0;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    assert.equal(blocked, await leaderBackend());
    await env.db.query('SELECT pg_terminate_backend($1)', [blocked]);
    await client.query('ROLLBACK');
    await client.end();
    locker.client = undefined;
  };

  it(`fences the old leader at each of ${String(LOSSES)} lock losses, and counts the duplicates`, async () => {
    worker = new AppProcess('projection-worker', env.config);
    await worker.ready;
    Logger.overrideLogger(['error']); // the lost sessions are the point here, not news
    for (const name of RELAYS) startRelay(name);
    await eventually(() => {
      assert.equal(journal.term, 1, 'one relay leads');
    });

    const acknowledged = new AcknowledgedCommands();
    const stop = { done: false };
    const load = loadUntil(commandApi.getHttpServer(), 61, stop, {
      clients: 4,
      pauseMs: 20,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });
    await eventually(
      () => {
        assert.ok(
          journal.publishes.some((p) => p.landed),
          'the first leader publishes',
        );
      },
      { timeoutMs: 30_000 },
    );

    const random = seededRandom(29);
    const forcedTerms: number[] = [];
    for (let loss = 1; loss <= LOSSES; loss++) {
      const term = journal.term;
      forcedTerms.push(term);
      if (loss === 1) await loseWhileRecording();
      else {
        // At a seeded point of the term's own progress, not of the clock: after its first, second or third landed batch.
        const batches = 1 + Math.floor(random() * 3);
        await eventually(
          () => {
            assert.ok(
              journal.publishes.filter((p) => p.term === term && p.landed).length >= batches,
              `term ${String(term)} has published ${String(batches)} batches`,
            );
          },
          { timeoutMs: 60_000, intervalMs: 10 },
        );
        await env.db.query('SELECT pg_terminate_backend($1)', [await leaderBackend()]);
      }
      await eventually(() => {
        assert.ok(
          journal.losses.some((l) => l.term === term),
          `term ${String(term)}'s leader noticed its loss`,
        );
      });
      await nextTermPublished(term);
    }
    stop.done = true;
    await load;
    const figures = await assertGuarantees(env, acknowledged, { topicMatchesStore: true });

    // Fencing: nothing started outside a term, and no term started anything after the next one had.
    const publishedAfterLossDetected = journal.publishes.filter((p) => p.term === 0).length;
    let newest = 0;
    let publishedAfterNextLeaderStarted = 0;
    for (const publish of journal.publishes) {
      if (publish.term < newest) publishedAfterNextLeaderStarted++;
      newest = Math.max(newest, publish.term);
    }
    assert.equal(publishedAfterLossDetected, 0, 'a relay that noticed its loss published nothing more');
    assert.equal(publishedAfterNextLeaderStarted, 0, 'the old leader stopped before the next one started');
    assert.deepEqual(
      journal.losses.filter((l) => forcedTerms.includes(l.term)).map((l) => l.term),
      forcedTerms,
      'each forced loss was noticed once',
    );

    // Duplicates: the events a term published again, charged to the loss that began it.
    assert.ok(
      journal.publishes.every((p) => p.landed),
      'the broker acknowledged every batch started',
    );
    const seen = new Set<string>();
    const repeatedByTerm = new Map<number, string[]>();
    for (const publish of journal.publishes) {
      for (const id of publish.eventIds) {
        if (seen.has(id)) repeatedByTerm.set(publish.term, [...(repeatedByTerm.get(publish.term) ?? []), id]);
        seen.add(id);
      }
    }
    // A leader records each batch before it reads the next, so a loss can cost only the old term's
    // last batch, all of it (its DELETE did not commit) or none of it (it did): never a part, never an older one.
    for (const term of forcedTerms) {
      const repeated = repeatedByTerm.get(term + 1) ?? [];
      const lastBatch = journal.publishes.filter((p) => p.term === term).at(-1)?.eventIds ?? [];
      if (repeated.length > 0)
        assert.deepEqual(
          [...repeated].sort(),
          [...lastBatch].sort(),
          `term ${String(term + 1)} published again exactly term ${String(term)}'s last batch`,
        );
    }
    const duplicatesPerLoss = forcedTerms.map((term) => repeatedByTerm.get(term + 1)?.length ?? 0);
    const duplicates = [...repeatedByTerm.values()].reduce((sum, ids) => sum + ids.length, 0);
    const aimedBatch = journal.publishes.filter((p) => p.term === forcedTerms[0]).at(-1)?.eventIds.length ?? 0;
    assert.ok(aimedBatch > 0);
    assert.equal(
      duplicatesPerLoss[0],
      aimedBatch,
      'the aimed loss cost exactly the batch the old leader could not record',
    );
    assert.equal(duplicates, figures.duplicatesOnTopic, 'every duplicate on the topic is one the journal explains');

    reportFigure('relay-fencing', {
      forcedLosses: LOSSES,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      publishedAfterLossDetected,
      publishedAfterNextLeaderStarted,
      aimedLossBatch: aimedBatch,
      duplicatesPerLoss: duplicatesPerLoss.join('/'),
      duplicatesOnTopic: figures.duplicatesOnTopic,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
    });
  });
});
