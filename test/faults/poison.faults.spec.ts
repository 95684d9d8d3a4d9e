import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { deadLetterTopic, encodeEnvelope } from '@app/messaging';
import { projections } from '@app/projections';
import {
  AcknowledgedCommands,
  TEST_ADMIN_TOKEN,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  inParallel,
  placeOrderBody,
  readTopicToEnd,
  reportFigure,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const PROJECTIONS = projections.map((projection) => projection.name);
const ORDERS = 120;
const SEED = 10;

interface ParkedItem {
  readonly id: string;
  readonly projection: string;
  readonly orderId: string | null;
  readonly reason: string;
  readonly deadLettered: boolean;
}

interface Poison {
  readonly name: string;
  readonly key: string | null;
  readonly value: Buffer;
  /** What the parked event's reason must say. */
  readonly reason: RegExp;
  /** The real order it poisons, whose later events must wait behind it; none for a key of no order. */
  readonly order?: string;
}

/**
 * Scenario 10: poison produced straight onto the topic while 120 orders run their lifecycles:
 * undecodable bytes, JSON that is no envelope, a record without a key, an envelope under another
 * order's key, an unknown event type, and an event that breaks its order's sequence. Each is
 * dead-lettered once per projection with its origin in headers and parked; the later events of a
 * poisoned order park behind it; every other order flows, read-your-writes included. Then the
 * operator discards the poison and retries the two orders through the admin API, and the full
 * oracle holds: nothing else was touched.
 */
describe('fault: poison messages under load', () => {
  let env: TestEnvironment;
  let system: RunningSystem;

  before(async () => {
    env = await createTestEnvironment('poison_faults', { partitions: 3 });
    system = await startSystem(env.config);
  });

  /** Connections the test opens itself: closed even when it fails midway, or the file never exits. */
  const opened: { disconnect(): Promise<void> }[] = [];

  after(async () => {
    for (const connection of opened.splice(0)) await connection.disconnect().catch(() => undefined);
    await system.close();
    await env.dispose();
  });

  const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const parkedEvents = async (): Promise<ParkedItem[]> =>
    (
      (await request(system.queryApi.getHttpServer()).get('/admin/parked-events?limit=1000').set(admin).expect(200))
        .body as { items: ParkedItem[] }
    ).items;
  const viewVersion = async (orderId: string): Promise<number | undefined> =>
    ((await request(system.queryApi.getHttpServer()).get(`/orders/${orderId}`)).body as { version?: number }).version;
  const command = async (orderId: string, path: string, body: object): Promise<number> =>
    (
      (await request(system.commandApi.getHttpServer()).post(`/orders/${orderId}${path}`).send(body).expect(200))
        .body as { version: number }
    ).version;
  const envelope = (orderId: string, type: string, version: number, data: object = {}): Buffer =>
    Buffer.from(
      encodeEnvelope(
        {
          eventId: randomUUID(),
          type,
          schemaVersion: 1,
          streamId: orderId,
          version,
          occurredAt: new Date().toISOString(),
          data,
        },
        { correlationId: 'poison', causationId: 'poison' },
      ).value,
    );

  it('dead-letters and parks the poison, holds its orders, lets everything else flow, and recovers through the admin API', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const producer = env.kafka.producer();
    opened.push(producer);
    await producer.connect();
    const topic = env.config.kafka.ordersTopic;

    // Two real orders that will be poisoned, visible at version 1 first.
    const poisoned: string[] = [];
    for (const customerId of ['poisoned-1', 'poisoned-2']) {
      const orderId = (
        (
          await request(system.commandApi.getHttpServer())
            .post('/orders')
            .send(placeOrderBody({ customerId }))
            .expect(201)
        ).body as { orderId: string }
      ).orderId;
      acknowledged.record(orderId, 1, 'OrderPlaced');
      await eventually(async () => {
        assert.equal(await viewVersion(orderId), 1);
      });
      poisoned.push(orderId);
    }
    const [undecodableOrder = '', gapOrder = ''] = poisoned;
    const stranger = randomUUID();
    const poisons: Poison[] = [
      {
        name: 'undecodable bytes',
        key: undecodableOrder,
        value: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]),
        reason: /undecodable: record value is not valid UTF-8/,
        order: undecodableOrder,
      },
      {
        name: 'sequence gap',
        key: gapOrder,
        value: envelope(gapOrder, 'OrderShipped', 5, { carrier: 'X', trackingNumber: 'T' }),
        reason: /sequence gap: expected version 2, got 5/,
        order: gapOrder,
      },
      {
        name: 'unknown event type',
        key: stranger,
        value: envelope(stranger, 'OrderTeleported', 1),
        reason: /unknown event type OrderTeleported/,
      },
      {
        name: 'JSON that is no envelope',
        key: 'not-an-order',
        value: Buffer.from('{"hello":"world"}'),
        reason: /undecodable.*envelope has invalid/,
      },
      { name: 'no key', key: null, value: Buffer.from('garbage without a key'), reason: /undecodable/ },
      {
        name: 'key of another order',
        key: randomUUID(),
        value: envelope(randomUUID(), 'OrderPlaced', 1, placeOrderBody()),
        reason: /undecodable.*record key is not the envelope orderId/,
      },
    ];

    // The load, with read-your-writes on every command; the poison goes in at fixed points of it.
    const random = seededRandom(SEED);
    let completed = 0;
    const good: string[] = [];
    const load = inParallel(ORDERS, 3, async () => {
      const { orderId } = await runRandomLifecycle(
        system.commandApi.getHttpServer(),
        seededRandom(Math.floor(random() * 2 ** 32)),
        system.queryApi.getHttpServer(),
        {
          onAcknowledged: (id, version, eventType) => {
            acknowledged.record(id, version, eventType);
          },
        },
      );
      good.push(orderId);
      completed++;
    });
    // Where each poison landed, `partition@offset`: the origin its dead letters must name.
    const origins = new Map<string, Poison>();
    for (const [index, poison] of poisons.entries()) {
      await eventually(
        () => {
          assert.ok(completed >= (index + 1) * Math.floor(ORDERS / (poisons.length + 2)));
        },
        { timeoutMs: 120_000 },
      );
      const [landed] = await producer.send({ topic, acks: -1, messages: [{ key: poison.key, value: poison.value }] });
      assert.ok(landed?.baseOffset !== undefined, `${poison.name} was acknowledged`);
      origins.set(`${String(landed.partition)}@${landed.baseOffset}`, poison);
    }
    // The poisoned orders go on: these events must park behind the poison, never apply out of order.
    for (const orderId of poisoned) {
      acknowledged.record(
        orderId,
        await command(orderId, '/lines', { sku: 'AFTER-POISON', quantity: 1, unitPriceMinor: 99 }),
        'OrderLineAdded',
      );
      acknowledged.record(
        orderId,
        await command(orderId, '/confirm', { paymentReference: 'pay-after-poison' }),
        'OrderConfirmed',
      );
    }
    await load;
    await producer.disconnect();
    assert.equal(good.length, ORDERS, 'every order of the load completed its lifecycle, read-your-writes included');

    // Each poison parked and dead-lettered once per projection, and the two orders' later events parked behind it.
    const expectedParked = poisons.length * PROJECTIONS.length + poisoned.length * 2 * PROJECTIONS.length;
    const parked = await eventually(
      async () => {
        const items = await parkedEvents();
        assert.equal(
          items.length,
          expectedParked,
          JSON.stringify(items.map(({ projection, orderId, reason }) => ({ projection, orderId, reason }))),
        );
        return items;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const deadLettered = parked.filter((item) => item.deadLettered);
    assert.equal(deadLettered.length, poisons.length * PROJECTIONS.length);
    for (const poison of poisons) {
      const mine = deadLettered.filter((item) => item.orderId === poison.key && poison.reason.test(item.reason));
      assert.deepEqual(
        new Set(mine.map((item) => item.projection)),
        new Set(PROJECTIONS),
        `${poison.name}: ${JSON.stringify(deadLettered.filter((item) => item.orderId === poison.key))}`,
      );
    }
    const waiting = parked.filter((item) => !item.deadLettered);
    assert.ok(
      waiting.every((item) => item.orderId !== null && poisoned.includes(item.orderId)),
      'only the poisoned orders wait',
    );
    const goodOrders = new Set(good);
    assert.ok(
      parked.every((item) => item.orderId === null || !goodOrders.has(item.orderId)),
      'no good order is parked',
    );
    for (const orderId of poisoned)
      assert.equal(await viewVersion(orderId), 1, 'a poisoned order is held at its last good version');

    // The dead-letter topic holds exactly the poison, per projection, each with its origin. A
    // projection publishes its dead letters before it commits the parked rows waited for above, so
    // the topic is complete: read it to its end, where an extra letter would show. Dead-lettering is
    // at least once (a batch retried after its publish sends its letters again): repeats are counted.
    const { records: letters } = await readTopicToEnd(env.kafka, deadLetterTopic(env.config).name);
    const expectedLetters = [...origins.keys()]
      .flatMap((origin) => PROJECTIONS.map((projection) => `${projection} ${origin}`))
      .sort();
    const letterOrigins = new Set(
      letters.map(
        (letter) =>
          `${letter.headers['dlq-projection'] ?? ''} ${letter.headers['dlq-origin-partition'] ?? ''}@${letter.headers['dlq-origin-offset'] ?? ''}`,
      ),
    );
    assert.deepEqual(
      [...letterOrigins].sort(),
      expectedLetters,
      'a dead letter for each poison and projection, and nothing else',
    );
    const deadLettersResent = letters.length - letterOrigins.size;
    for (const letter of letters) {
      const poison = origins.get(
        `${letter.headers['dlq-origin-partition'] ?? ''}@${letter.headers['dlq-origin-offset'] ?? ''}`,
      );
      assert.equal(letter.headers['dlq-origin-topic'], topic);
      assert.ok(
        poison && poison.reason.test(letter.headers['dlq-error'] ?? ''),
        `${poison?.name ?? 'unknown origin'}: ${letter.headers['dlq-error'] ?? ''}`,
      );
      assert.equal(letter.key, poison.key, `${poison.name}: the dead letter keeps the record's key`);
      assert.equal(
        letter.value,
        poison.value.toString('utf8'),
        `${poison.name}: the dead letter keeps the record's value`,
      );
    }

    // The operator discards the poison and retries the two orders: what waited applies, in order.
    for (const item of deadLettered) {
      await request(system.queryApi.getHttpServer()).delete(`/admin/parked-events/${item.id}`).set(admin).expect(200);
    }
    for (const orderId of poisoned) {
      const retried = await request(system.queryApi.getHttpServer())
        .post(`/admin/parked-events/orders/${orderId}/retry`)
        .set(admin)
        .expect(200);
      for (const outcome of Object.values(retried.body as Record<string, { stillParked: number }>))
        assert.equal(outcome.stillParked, 0);
      assert.equal(await viewVersion(orderId), 3);
    }
    assert.deepEqual(await parkedEvents(), []);

    const figures = await assertGuarantees(env, acknowledged);
    reportFigure('poison', {
      poisonMessages: poisons.length,
      deadLettered: letterOrigins.size,
      deadLettersResent,
      parked: parked.length,
      goodOrdersParked: 0,
      ordersUnderLoad: ORDERS,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFoldAfterDiscard: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
