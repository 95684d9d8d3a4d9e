import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { Logger } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';

import {
  EventPublisher,
  KafkaConnection,
  ORDER_EVENTS,
  decodeEnvelope,
  orderEventsTopic,
  type EventEnvelope,
} from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';
import {
  createTestEnvironment,
  eventually,
  readTopic,
  readTopicToEnd,
  type ReadRecord,
  type TestEnvironment,
} from '@app/testing';

import { EventStore, OUTBOX_CHANNEL, type NewEvent } from './event-store.js';
import {
  OutboxRelay,
  RELAY_LOCK_ID,
  leaderSessionConfig,
  type OutboxRelayOptions,
  type RecordPublisher,
} from './outbox-relay.js';

const metadata = { correlationId: 'corr-1', causationId: 'cause-1' };
const placed: OrderEvent = {
  type: 'OrderPlaced',
  data: { customerId: 'c-1', currency: 'EUR', lines: [{ sku: 'A', quantity: 1, unitPriceMinor: 100 }], channel: 'web' },
};
const confirmed: OrderEvent = { type: 'OrderConfirmed', data: { paymentReference: 'pay-1' } };
const shipped: OrderEvent = { type: 'OrderShipped', data: { carrier: 'DHL', trackingNumber: 'T-1' } };

function newEvents(...events: OrderEvent[]): NewEvent[] {
  return events.map((event) => ({ eventId: randomUUID(), schemaVersion: 1, event, occurredAt: new Date(), metadata }));
}

function envelopesOf(records: readonly ReadRecord[], orderId: string): EventEnvelope[] {
  return records
    .filter((record) => record.key === orderId)
    .map((record) => decodeEnvelope(Buffer.from(record.value ?? ''), Buffer.from(record.key ?? '')));
}

describe('outbox relay', () => {
  let env: TestEnvironment;
  let dataSource: DataSource;
  let store: EventStore;
  let relay: OutboxRelay;

  const newRelay = (pollIntervalMs: number): OutboxRelay =>
    new OutboxRelay(new EventPublisher(env.kafka, orderEventsTopic(env.config)), {
      databaseUrl: env.config.databaseUrl,
      contract: ORDER_EVENTS,
      pollIntervalMs,
      batchSize: 100,
      leaseMs: 5_000,
    });
  /** A relay whose journal records, in order, when it led, when it lost the lead, and each batch it started to publish. */
  const journaledRelay = (options: Partial<OutboxRelayOptions>): JournaledRelay => {
    const journal: JournalEntry[] = [];
    const note = (kind: JournalEntry['kind'], eventIds: string[] = []): void => {
      journal.push({ kind, at: performance.now(), eventIds });
    };
    const inner = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    const publisher: RecordPublisher = {
      publish: (records) => {
        note(
          'publish',
          records.map((record) => record.headers['event-id'] ?? ''),
        );
        return inner.publish(records);
      },
      close: () => inner.close(),
    };
    const relay = new OutboxRelay(publisher, {
      databaseUrl: env.config.databaseUrl,
      contract: ORDER_EVENTS,
      pollIntervalMs: 100,
      batchSize: 100,
      leaseMs: 5_000,
      ...options,
      leadership: (leading) => {
        note(leading ? 'lead' : 'lost');
      },
    });
    return { relay, journal };
  };
  /**
   * Runs `work` with a journaled relay of `options` in place of the shared one, which it stops
   * first and starts again afterwards, whatever `work` did.
   */
  const withJournaledRelay = async (
    options: Partial<OutboxRelayOptions>,
    work: (journaled: JournaledRelay) => Promise<void>,
  ): Promise<void> => {
    await relay.stop();
    const journaled = journaledRelay(options);
    journaled.relay.start();
    try {
      await work(journaled);
    } finally {
      await journaled.relay.stop();
      relay = newRelay(5_000);
      relay.start();
    }
  };
  const leaderBackend = async (): Promise<number> => {
    const { rows } = await env.db.query<{ pid: number }>(
      `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objid::bigint = $1 AND l.granted
          AND a.datname = current_database() AND a.application_name = 'outbox-relay'`,
      [RELAY_LOCK_ID],
    );
    assert.equal(rows.length, 1, 'one backend holds the leader lock');
    return rows[0]?.pid ?? 0;
  };
  const append = (orderId: string, ...events: OrderEvent[]) =>
    store.transaction((db) => store.append(db, orderId, 0, newEvents(...events)));
  const topic = () => env.config.kafka.ordersTopic;
  /**
   * Stops the relays, so that nothing writes to the topic any more and whatever either one ever
   * sent is on it, then reads all of it: a late or repeated publish cannot hide past where a read
   * stopped.
   */
  /**
   * Waits for the outbox to drain, then reads the whole topic. A relay deletes a batch only after the
   * broker acknowledged it, so with the outbox empty and nothing appended, nothing more is coming.
   */
  const readAllOnceDrained = async (): Promise<readonly ReadRecord[]> => {
    await eventually(async () => {
      const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
      assert.equal(rows[0]?.n, 0, 'the outbox is drained');
    });
    return (await readTopicToEnd(env.kafka, topic())).records;
  };
  const readAllOnceStopped = async (...journaled: JournaledRelay[]): Promise<readonly ReadRecord[]> => {
    await Promise.all(journaled.map(({ relay }) => relay.stop()));
    return (await readTopicToEnd(env.kafka, topic())).records;
  };

  before(async () => {
    env = await createTestEnvironment('outbox_relay', { relay: 'in-process' });
    dataSource = await new DataSource({ type: 'postgres', url: env.config.databaseUrl }).initialize();
    store = new EventStore(dataSource);
    relay = newRelay(5_000); // a long poll: the tests finish quickly only because NOTIFY wakes the relay
    relay.start();
  });

  after(async () => {
    await relay.stop();
    await dataSource.destroy();
    await env.dispose();
  });

  it('publishes committed events keyed by order id, in version order, with the envelope headers', async () => {
    const orderId = randomUUID();
    await append(orderId, placed, confirmed, shipped);

    await readTopic(env.kafka, topic(), (read) => read.filter((r) => r.key === orderId).length >= 3);
    const records = await readAllOnceDrained();
    const ours = records.filter((record) => record.key === orderId);
    assert.equal(ours.length, 3);
    assert.equal(new Set(ours.map((record) => record.partition)).size, 1, 'one order, one partition');
    const envelopes = envelopesOf(records, orderId);
    assert.deepEqual(
      envelopes.map((envelope) => [envelope.version, envelope.type]),
      [
        [1, 'OrderPlaced'],
        [2, 'OrderConfirmed'],
        [3, 'OrderShipped'],
      ],
    );
    const [first] = ours;
    assert.ok(first);
    assert.deepEqual(first.headers, {
      'event-type': 'OrderPlaced',
      'schema-version': '1',
      'event-id': envelopes[0]!.eventId,
      'correlation-id': 'corr-1',
      'causation-id': 'cause-1',
    });
    await eventually(async () => {
      const { rows } = await env.db.query('SELECT count(*)::int AS n FROM outbox');
      assert.equal((rows[0] as { n: number }).n, 0, 'the outbox is drained once the broker acknowledged');
    });
  });

  for (const ending of ['commit', 'rollback'] as const) {
    it(`never skips a transaction that commits late, and keeps flowing when one rolls back (${ending})`, async () => {
      const slowOrder = randomUUID();
      const fastOrders = [randomUUID(), randomUUID()];
      const slow = dataSource.createQueryRunner();
      await slow.connect();
      await slow.startTransaction();
      // The slow transaction takes its positions first, then stays open while later ones commit.
      await store.append(slow.manager, slowOrder, 0, newEvents(placed, confirmed));
      for (const orderId of fastOrders) await append(orderId, placed, confirmed);
      await readTopic(env.kafka, topic(), (read) =>
        fastOrders.every((id) => read.filter((r) => r.key === id).length === 2),
      );

      if (ending === 'commit') await slow.commitTransaction();
      else await slow.rollbackTransaction();
      await slow.release();
      const after = randomUUID();
      await append(after, placed);

      await readTopic(
        env.kafka,
        topic(),
        (read) =>
          read.some((r) => r.key === after) &&
          (ending === 'rollback' || read.filter((r) => r.key === slowOrder).length === 2),
      );
      const records = await readAllOnceDrained();
      for (const orderId of fastOrders)
        assert.deepEqual(
          envelopesOf(records, orderId).map((e) => e.version),
          [1, 2],
        );
      assert.deepEqual(
        envelopesOf(records, slowOrder).map((e) => e.version),
        ending === 'commit' ? [1, 2] : [],
      );
      assert.deepEqual(
        envelopesOf(records, after).map((e) => e.version),
        [1],
      );
    });
  }

  it('keeps the events while Kafka cannot be reached, and publishes them once it can', async () => {
    await relay.stop();
    // A relay whose broker address answers nothing: appends still commit, the outbox keeps them.
    const unreachable = new KafkaConnection({ ...env.config.kafka, brokers: ['127.0.0.1:1'] });
    const stranded = new OutboxRelay(new EventPublisher(unreachable, orderEventsTopic(env.config)), {
      databaseUrl: env.config.databaseUrl,
      contract: ORDER_EVENTS,
      pollIntervalMs: 100,
      batchSize: 100,
      leaseMs: 5_000,
    });
    Logger.overrideLogger(false); // the refused connections are the point here, not news
    stranded.start();
    const orderIds = [randomUUID(), randomUUID(), randomUUID()];
    try {
      await eventually(() => {
        assert.ok(stranded.isLeader);
      });
      for (const orderId of orderIds) await append(orderId, placed, confirmed);
      const { rows } = await env.db.query('SELECT count(*)::int AS n FROM outbox');
      assert.equal((rows[0] as { n: number }).n, 6);
    } finally {
      await stranded.stop();
      Logger.overrideLogger(['log', 'error', 'warn']);
    }

    relay = newRelay(5_000);
    relay.start();
    await readTopic(env.kafka, topic(), (read) =>
      orderIds.every((id) => read.filter((r) => r.key === id).length === 2),
    );
    const records = await readAllOnceDrained();
    for (const orderId of orderIds)
      assert.deepEqual(
        envelopesOf(records, orderId).map((e) => e.version),
        [1, 2],
      );
  });

  it('has exactly one leader; a standby takes over when the leader stops', async () => {
    const standby = newRelay(100);
    standby.start();
    try {
      await eventually(() => {
        assert.ok(relay.isLeader);
      });
      assert.equal(standby.isLeader, false);

      await relay.stop();
      await eventually(() => {
        assert.ok(standby.isLeader);
      });
      const orderId = randomUUID();
      await append(orderId, placed);
      await readTopic(env.kafka, topic(), (read) => read.some((r) => r.key === orderId));
    } finally {
      await standby.stop();
      relay = newRelay(5_000);
      relay.start();
    }
  });
  it('asks Postgres to drop a silent leader session only after twice the lease', async () => {
    const config = leaderSessionConfig(env.config.databaseUrl, 1_500);
    const session = new pg.Client(config);
    await session.connect();
    try {
      const { rows } = await session.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count', 'tcp_user_timeout', 'application_name')",
      );
      const settings = Object.fromEntries(rows.map((row) => [row.name, row.setting]));
      assert.deepEqual(settings, {
        application_name: 'outbox-relay',
        tcp_keepalives_count: '3',
        tcp_keepalives_idle: '2',
        tcp_keepalives_interval: '1',
        tcp_user_timeout: '5000',
      });
      const keepaliveMs =
        (Number(settings.tcp_keepalives_idle) +
          Number(settings.tcp_keepalives_count) * Number(settings.tcp_keepalives_interval)) *
        1_000;
      assert.equal(config.serverPatienceMs, keepaliveMs);
      assert.ok(keepaliveMs >= 2 * 1_500, 'the server waits at least twice the lease before dropping the session');
      assert.ok(
        (config.query_timeout ?? Infinity) <= 1_500 / 2,
        'a query on the session gives up within half the lease',
      );
    } finally {
      await session.end();
    }
  });

  it('stops a leader whose backend is terminated, and the standby takes over', async () => {
    await relay.stop();
    // The old leader waits 20 s before trying again, so the standby (400 ms) is the one to take over.
    const leader = journaledRelay({ pollIntervalMs: 5_000 });
    const standby = journaledRelay({ pollIntervalMs: 100 });
    Logger.overrideLogger(false); // the lost session is the point here, not news
    leader.relay.start();
    try {
      await eventually(() => {
        assert.ok(leader.relay.isLeader);
      });
      standby.relay.start();
      await env.db.query('SELECT pg_terminate_backend($1)', [await leaderBackend()]);
      await eventually(() => {
        assert.equal(leader.relay.isLeader, false, 'the leader noticed');
      });
      await eventually(() => {
        assert.ok(standby.relay.isLeader, 'the standby took over');
      });

      const orderId = randomUUID();
      await append(orderId, placed, confirmed);
      await readTopic(env.kafka, topic(), (read) => read.filter((r) => r.key === orderId).length >= 2);
      const records = await readAllOnceStopped(leader, standby);
      assert.deepEqual(
        envelopesOf(records, orderId).map((e) => e.version),
        [1, 2],
        'published once, by the new leader',
      );
      assertEachOnce(records, [...published(leader.journal), ...published(standby.journal)]);
      assert.deepEqual(
        publishesWhileNotLeading(leader.journal),
        [],
        'the old leader published nothing after it lost the lock',
      );
      const mine = new Set(envelopesOf(records, orderId).map((e) => e.eventId));
      assert.equal(published(standby.journal).filter((id) => mine.has(id)).length, 2, 'the standby published both');
    } finally {
      await Promise.all([leader.relay.stop(), standby.relay.stop()]);
      Logger.overrideLogger(['log', 'error', 'warn']);
      relay = newRelay(5_000);
      relay.start();
    }
  });

  it('stops a leader whose session is silently dropped within its lease, and it publishes nothing after, while the standby leads', async () => {
    await relay.stop();
    const target = new URL(env.config.databaseUrl);
    const proxy = await FreezableProxy.start(target.hostname, Number(target.port || 5432));
    const proxied = new URL(env.config.databaseUrl);
    proxied.host = `127.0.0.1:${String(proxy.port)}`;
    const leaseMs = 1_000;
    const leader = journaledRelay({ databaseUrl: proxied.toString(), leaseMs });
    const standby = journaledRelay({ leaseMs });
    leader.relay.start();
    try {
      await eventually(() => {
        assert.ok(leader.relay.isLeader);
      });
      standby.relay.start();
      const earlier = randomUUID();
      await append(earlier, placed);
      await readTopic(env.kafka, topic(), (read) => read.some((r) => r.key === earlier));
      assert.ok(published(leader.journal).length >= 1, 'the leader publishes through the proxy');
      // …and has recorded it: the network dies between batches, so nothing is owed a second publish.
      await eventually(async () => {
        const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
        assert.equal(rows[0]?.n, 0, 'the leader recorded its batch');
      });

      Logger.overrideLogger(false); // timeouts and refused connections are the point here, not news
      // The network dies: Postgres sees its side close and frees the lock; the relay hears nothing.
      proxy.freeze();
      const frozenAt = performance.now();
      proxy.cutServerSide();
      await eventually(() => {
        assert.ok(standby.relay.isLeader, 'the standby took over');
      });
      const later = randomUUID();
      await append(later, placed, confirmed);
      await readTopic(env.kafka, topic(), (read) => read.filter((r) => r.key === later).length >= 2);
      await eventually(() => {
        assert.equal(leader.relay.isLeader, false, 'the old leader noticed');
      });
      const records = await readAllOnceStopped(leader, standby);
      assert.deepEqual(
        envelopesOf(records, later).map((e) => e.version),
        [1, 2],
        'published once, by the new leader',
      );
      assert.deepEqual(
        envelopesOf(records, earlier).map((e) => e.version),
        [1],
        'the earlier event was published once',
      );
      assertEachOnce(records, [...published(leader.journal), ...published(standby.journal)]);

      const lateStarts = leader.journal.filter((entry) => entry.kind === 'publish' && entry.at >= frozenAt + leaseMs);
      assert.deepEqual(lateStarts, [], 'the old leader started no publish once its lease ran out');
      const laterIds = new Set(envelopesOf(records, later).map((e) => e.eventId));
      assert.equal(published(leader.journal).filter((id) => laterIds.has(id)).length, 0);
      assert.deepEqual(publishesWhileNotLeading(leader.journal), []);
    } finally {
      await Promise.all([leader.relay.stop(), standby.relay.stop()]);
      await proxy.close();
      Logger.overrideLogger(['log', 'error', 'warn']);
      relay = newRelay(5_000);
      relay.start();
    }
  });

  it('lingers after a partial batch: what commits meanwhile goes out in one batch', async () => {
    // Far longer than three commits take, so they are all in the outbox when it is over.
    await withJournaledRelay({ lingerMs: 10_000 }, async ({ journal }) => {
      const [first, ...later] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await append(first, placed);
      await eventually(() => {
        assert.equal(publishedBatches(journal).length, 1, 'the first event went out on its own');
      });
      for (const orderId of later) await append(orderId, placed);
      const { rows } = await env.db.query<{ event_id: string }>(
        'SELECT event_id FROM events WHERE order_id = ANY($1::uuid[]) ORDER BY position',
        [later],
      );
      await eventually(
        () => {
          assert.deepEqual(publishedBatches(journal).slice(1), [rows.map((row) => row.event_id)]);
        },
        { timeoutMs: 30_000 },
      );
    });
  });

  it('still lingers after a stop and a start of the same relay', async () => {
    await withJournaledRelay({ lingerMs: 3_000 }, async ({ relay: restarted, journal }) => {
      await restarted.stop(); // aborts its lingers: a start must not keep that
      restarted.start();
      const [first, ...later] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await append(first, placed);
      await eventually(() => {
        assert.equal(publishedBatches(journal).length, 1, 'the first event went out on its own');
      });
      for (const orderId of later) await append(orderId, placed);
      await eventually(
        () => {
          assert.deepEqual(
            publishedBatches(journal).map((batch) => batch.length),
            [1, later.length],
            'what committed during the linger went out in one batch',
          );
        },
        { timeoutMs: 30_000 },
      );
    });
  });

  it('stops without waiting out a linger', async () => {
    // Ten minutes: a stop that waited for it would outlast the test's timeout.
    await withJournaledRelay({ lingerMs: 600_000 }, async ({ journal }) => {
      await append(randomUUID(), placed);
      await eventually(async () => {
        assert.equal(publishedBatches(journal).length, 1);
        const { rows } = await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
        assert.equal(rows[0]?.n, 0, 'published and deleted: the relay lingers now');
      });
    });
  });

  it('wakes a leading relay of the same process after the commit, without a NOTIFY', async () => {
    await relay.stop();
    const listener = new pg.Client({ connectionString: env.config.databaseUrl });
    await listener.connect();
    let notifications = 0;
    listener.on('notification', () => notifications++);
    await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    const local = newRelay(120_000); // only a wake can make it publish within the read's timeout
    const localStore = new EventStore(dataSource);
    localStore.useLocalRelay(local);
    local.start();
    try {
      await eventually(() => {
        assert.ok(local.isLeader, 'the new relay leads');
      });
      const orderId = randomUUID();
      await localStore.transaction((db) => localStore.append(db, orderId, 0, newEvents(placed)));
      await readTopic(env.kafka, topic(), (read) => read.some((r) => r.key === orderId));
      const records = await readAllOnceDrained();
      assert.equal(envelopesOf(records, orderId).length, 1);
      assert.equal(notifications, 0, 'no NOTIFY: the commit woke the relay in memory');

      const other = randomUUID(); // a store with no relay of its own notifies the leader
      await append(other, placed);
      await eventually(() => {
        assert.equal(notifications, 1);
      });
    } finally {
      await local.stop();
      await listener.end();
      relay = newRelay(5_000);
      relay.start();
    }
  });
});

interface JournalEntry {
  readonly kind: 'lead' | 'lost' | 'publish';
  readonly at: number;
  readonly eventIds: readonly string[];
}

interface JournaledRelay {
  readonly relay: OutboxRelay;
  readonly journal: JournalEntry[];
}

/** Each of `eventIds` is on the topic exactly once. */
function assertEachOnce(records: readonly ReadRecord[], eventIds: readonly string[]): void {
  const copies = new Map<string, number>(eventIds.map((id) => [id, 0]));
  for (const record of records) {
    const id = record.headers['event-id'] ?? '';
    const seen = copies.get(id);
    if (seen !== undefined) copies.set(id, seen + 1);
  }
  assert.deepEqual(
    [...copies].filter(([, n]) => n !== 1),
    [],
    'every event the relays published is on the topic exactly once',
  );
}

/** Every event id whose publish the relay started. */
function published(journal: readonly JournalEntry[]): string[] {
  return publishedBatches(journal).flat();
}

/** The event ids of each publish the relay started, a list per batch. */
function publishedBatches(journal: readonly JournalEntry[]): string[][] {
  return journal.filter((entry) => entry.kind === 'publish').map((entry) => [...entry.eventIds]);
}

/** The entries between a lost lead and the next lead: publishes there are what fencing forbids. */
function publishesWhileNotLeading(journal: readonly JournalEntry[]): string[] {
  const forbidden: string[] = [];
  let leading = false;
  for (const entry of journal) {
    if (entry.kind === 'publish' && !leading) forbidden.push(`publish of ${String(entry.eventIds.length)} events`);
    leading = entry.kind === 'lead' || (leading && entry.kind !== 'lost');
  }
  return forbidden;
}

/**
 * A TCP proxy to Postgres that can be frozen, like a network that silently drops everything: it
 * forwards nothing more either way and closes nothing, so neither end's kernel reports a thing.
 */
class FreezableProxy {
  private frozen = false;
  private readonly sockets = new Set<Socket>();
  private readonly upstreams = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(host: string, port: number): Promise<FreezableProxy> {
    const server = createServer();
    const proxy = new FreezableProxy(server);
    server.on('connection', (client) => {
      proxy.accept(client, host, port);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    assert.ok(address && typeof address === 'object');
    return address.port;
  }

  /** Stops forwarding: bytes stay unread in the kernel's buffers, and no socket is closed. */
  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) socket.pause();
  }

  /** Closes the Postgres side of every connection: the server notices the drop, the clients do not. */
  cutServerSide(): void {
    for (const upstream of this.upstreams) upstream.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket, host: string, port: number): void {
    this.track(client);
    if (this.frozen) {
      client.pause(); // a dead network: the connection never reaches the server
      return;
    }
    const upstream = connect(port, host);
    this.track(upstream);
    this.upstreams.add(upstream);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('data', (chunk) => {
        if (!this.frozen) to.write(chunk);
      });
      from.on('close', () => {
        if (!this.frozen) to.destroy();
      });
    }
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }
}

describe('event publisher', () => {
  let env: TestEnvironment;

  before(async () => {
    env = await createTestEnvironment('publisher', { partitions: 1, relay: 'in-process' });
  });

  after(async () => {
    await env.dispose();
  });

  it('splits a batch larger than the broker accepts into several requests, in order', async () => {
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    try {
      const records = ['a', 'b', 'c'].map((tag) => ({ key: 'order-1', value: tag.repeat(400_000), headers: { tag } }));
      await publisher.publish(records);
      // The publish has answered, so the topic is complete: all of it, where an extra record would show.
      const { records: read } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
      assert.deepEqual(
        read.map((record) => record.headers.tag),
        ['a', 'b', 'c'],
      );
    } finally {
      await publisher.close();
    }
  });

  it('refuses a record over 1 MB and produces nothing of its batch', async () => {
    const publisher = new EventPublisher(env.kafka, orderEventsTopic(env.config));
    try {
      await assert.rejects(
        publisher.publish([
          { key: 'order-2', value: 'small', headers: {} },
          { key: 'order-2', value: 'x'.repeat(1_100_000), headers: {} },
        ]),
        /exceeds/,
      );
      // A negative check reads the whole topic: the earlier test's three records, and nothing of this batch.
      const { records: read } = await readTopicToEnd(env.kafka, env.config.kafka.ordersTopic);
      assert.deepEqual(
        read.map((record) => record.headers.tag),
        ['a', 'b', 'c'],
      );
      assert.equal(read.filter((record) => record.key === 'order-2').length, 0);
    } finally {
      await publisher.close();
    }
  });
});
