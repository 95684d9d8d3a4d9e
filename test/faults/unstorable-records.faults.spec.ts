import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import { deadLetterTopic, encodeEnvelope } from '@app/messaging';
import { projections } from '@app/projections';
import {
  ADMIN_AUTH,
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  eventually,
  inParallel,
  listParkedEvents,
  placeOrderBody,
  readTopicToEnd,
  rebuildThroughAdminApi,
  reportFigure,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const ORDERS = 60;
const SEED = 12;

interface Unstorable {
  readonly name: string;
  readonly key: Buffer | null;
  readonly value: Buffer;
  readonly headers?: Record<string, string | Buffer>;
  /** The real order whose later events must park behind it, if the record is keyed by one. */
  readonly order?: string;
}

/**
 * Point 1 of issue 12: records whose key, type, headers or payload hold bytes Postgres refuses in
 * `text` or `jsonb` (a NUL, invalid UTF-8, `\u0000` in JSON), or a key too long to index, produced
 * straight onto the topic among real events under load. Each is poison like any other:
 * dead-lettered with its origin, its order parked, every partition flowing. A rebuild of every
 * projection reads them again and finishes. The operator then discards them and retries.
 */
describe('fault: records Postgres cannot store', () => {
  let env: TestEnvironment;
  let system: RunningSystem;

  before(async () => {
    env = await createTestEnvironment('unstorable', { partitions: 3 });
    system = await startSystem(env.config);
  });

  /** Connections the test opens itself: closed even when it fails midway, or the file never exits. */
  const opened: { disconnect(): Promise<void> }[] = [];

  after(async () => {
    for (const connection of opened.splice(0)) await connection.disconnect().catch(() => undefined);
    await system.close();
    await env.dispose();
  });

  const viewVersion = async (orderId: string): Promise<number | undefined> =>
    ((await request(system.queryApi.getHttpServer()).get(`/orders/${orderId}`)).body as { version?: number }).version;
  const command = async (orderId: string, path: string, body: object): Promise<number> =>
    (
      (await request(system.commandApi.getHttpServer()).post(`/orders/${orderId}${path}`).send(body).expect(200))
        .body as { version: number }
    ).version;
  const envelopeJson = (orderId: string, type: string, version: number, data: object): string =>
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
      { correlationId: 'neighbour', causationId: 'neighbour' },
    ).value;

  it('dead-letters and parks each one, keeps every partition flowing, live and in rebuilds', async () => {
    const started = performance.now();
    const acknowledged = new AcknowledgedCommands();
    const targets: string[] = [];
    for (const customerId of ['unstorable-1', 'unstorable-2']) {
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
      targets.push(orderId);
    }
    const [first = '', second = ''] = targets;
    const placed = (orderId: string): string => envelopeJson(orderId, 'OrderPlaced', 1, placeOrderBody());
    const keyed = (
      orderId: string,
      value: string,
      headers?: Record<string, string | Buffer>,
    ): Pick<Unstorable, 'key' | 'value' | 'headers'> => ({
      key: Buffer.from(orderId),
      value: Buffer.from(value),
      ...(headers ? { headers } : {}),
    });
    const [nulKeyOrder, longKeyOrder, nulType, nulHeader, badHeader] = [
      `${randomUUID()}\u0000`,
      'k'.repeat(300),
      randomUUID(),
      randomUUID(),
      randomUUID(),
    ];
    const invalidUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const unstorable: Unstorable[] = [
      { name: 'NUL byte in the key', ...keyed(nulKeyOrder, placed(nulKeyOrder)) },
      {
        name: 'invalid UTF-8 key',
        key: Buffer.from([0xc3, 0x28, 0xa0, 0xa1]),
        value: Buffer.from(placed(randomUUID())),
      },
      { name: 'key longer than an order id may be', ...keyed(longKeyOrder, placed(longKeyOrder)) },
      {
        name: '\\u0000 in the payload',
        ...keyed(
          first,
          envelopeJson(first, 'OrderLineAdded', 2, { line: { sku: 'NUL\u0000SKU', quantity: 1, unitPriceMinor: 1 } }),
        ),
        order: first,
      },
      {
        name: 'invalid UTF-8 in the payload',
        key: Buffer.from(second),
        value: Buffer.concat([
          Buffer.from(
            envelopeJson(second, 'OrderLineAdded', 2, { line: { sku: 'X', quantity: 1, unitPriceMinor: 1 } }),
          ).subarray(0, 40),
          invalidUtf8,
        ]),
        order: second,
      },
      { name: 'NUL in the event type', ...keyed(nulType, envelopeJson(nulType, 'Order\u0000Placed', 1, {})) },
      { name: 'NUL in a header', ...keyed(nulHeader, placed(nulHeader), { 'correlation-id': 'neigh\u0000bour' }) },
      { name: 'invalid UTF-8 in a header', ...keyed(badHeader, placed(badHeader), { traceparent: invalidUtf8 }) },
    ];

    const producer = env.kafka.producer();
    opened.push(producer);
    await producer.connect();
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
    // Where each record landed, `partition@offset`: the origin its dead letters must name.
    const origins = new Map<string, Unstorable>();
    for (const [index, poison] of unstorable.entries()) {
      await eventually(
        () => {
          assert.ok(completed >= (index + 1) * Math.floor(ORDERS / (unstorable.length + 2)));
        },
        { timeoutMs: 120_000 },
      );
      const [landed] = await producer.send({
        topic: env.config.kafka.ordersTopic,
        acks: -1,
        messages: [{ key: poison.key, value: poison.value, headers: poison.headers ?? {} }],
      });
      assert.ok(landed?.baseOffset !== undefined, `${poison.name} was acknowledged`);
      origins.set(`${String(landed.partition)}@${landed.baseOffset}`, poison);
    }
    for (const orderId of targets)
      acknowledged.record(
        orderId,
        await command(orderId, '/lines', { sku: 'AFTER', quantity: 1, unitPriceMinor: 5 }),
        'OrderLineAdded',
      );
    await load;
    await producer.disconnect();
    assert.equal(good.length, ORDERS, 'every order of the load completed its lifecycle, read-your-writes included');

    const expectedParked = (unstorable.length + targets.length) * projections.length;
    const parked = await eventually(
      async () => {
        const items = await listParkedEvents(system.queryApi.getHttpServer());
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
    assert.equal(deadLettered.length, unstorable.length * projections.length);
    assert.ok(
      deadLettered.every((item) => /undecodable/.test(item.reason)),
      JSON.stringify(deadLettered.map((item) => item.reason)),
    );
    assert.ok(
      parked
        .filter((item) => !item.deadLettered)
        .every((item) => item.orderId !== null && targets.includes(item.orderId)),
      'only the two orders wait',
    );
    assert.ok(
      parked.every((item) => item.orderId === null || !good.includes(item.orderId)),
      'no good order is parked',
    );
    for (const orderId of targets)
      assert.equal(await viewVersion(orderId), 1, 'a poisoned order is held at its last good version');
    // Dead letters are at-least-once (a batch retried after its publish sends them again): one per
    // origin and projection is what counts, and the origins are exactly the records produced here.
    // A projection publishes them before it commits the parked rows waited for above: the topic is
    // complete, and read to its end.
    const { records: letters } = await readTopicToEnd(env.kafka, deadLetterTopic(env.config).name);
    const letterOrigin = (letter: (typeof letters)[number]): string =>
      `${letter.headers['dlq-origin-partition'] ?? ''}@${letter.headers['dlq-origin-offset'] ?? ''}`;
    const letteredOrigins = new Set(
      letters.map((letter) => `${letter.headers['dlq-projection'] ?? ''} ${letterOrigin(letter)}`),
    );
    const expectedLetters = [...origins.keys()].flatMap((origin) => projections.map(({ name }) => `${name} ${origin}`));
    assert.deepEqual(
      [...letteredOrigins].sort(),
      expectedLetters.sort(),
      'one dead letter per record and projection, and none of anything else',
    );
    assert.ok(letters.every((letter) => letter.headers['dlq-origin-topic'] === env.config.kafka.ordersTopic));
    const resent = letters.length - letteredOrigins.size;

    // A rebuild reads the same records again: it parks them (no dead letters) and finishes.
    const rebuilt = [];
    for (const projection of projections)
      rebuilt.push(await rebuildThroughAdminApi(system.queryApi.getHttpServer(), projection.name));
    assert.deepEqual(
      rebuilt.map((rebuild) => rebuild.state),
      projections.map(() => 'switched'),
      'every rebuild switched',
    );
    const { records: lettersAfterRebuilds } = await readTopicToEnd(env.kafka, deadLetterTopic(env.config).name);
    assert.equal(lettersAfterRebuilds.length, letters.length, 'the rebuilds sent no dead letter');
    const reparked = await listParkedEvents(system.queryApi.getHttpServer());
    assert.equal(reparked.length, expectedParked, 'the rebuilt generations hold the same parked records');

    // The operator discards them and retries the two orders: what waited applies, in order.
    for (const item of reparked.filter((parkedItem) => parkedItem.deadLettered)) {
      await request(system.queryApi.getHttpServer())
        .delete(`/admin/parked-events/${item.id}`)
        .set(ADMIN_AUTH)
        .expect(200);
    }
    for (const orderId of targets) {
      const retried = await request(system.queryApi.getHttpServer())
        .post(`/admin/parked-events/orders/${orderId}/retry`)
        .set(ADMIN_AUTH)
        .expect(200);
      for (const outcome of Object.values(retried.body as Record<string, { stillParked: number }>))
        assert.equal(outcome.stillParked, 0);
      assert.equal(await viewVersion(orderId), 2);
    }
    assert.deepEqual(await listParkedEvents(system.queryApi.getHttpServer()), []);

    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(figures.lost, 0);
    assert.equal(figures.appliedTwice, 0);
    reportFigure('unstorable-records', {
      recordsOfEachKind: 1,
      kinds: unstorable.length,
      deadLettered: letteredOrigins.size,
      deadLettersResent: resent,
      parked: parked.length,
      goodOrdersParked: 0,
      rebuildsSwitched: rebuilt.length,
      storedOffsetReachedLogEnd: true,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
