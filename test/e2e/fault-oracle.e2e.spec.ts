import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { encodeEnvelope } from '@app/messaging';
import {
  AcknowledgedCommands,
  assertGuarantees,
  createTestEnvironment,
  inParallel,
  runRandomLifecycle,
  seededRandom,
  startSystem,
  type Acknowledgement,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

const ORDERS = 12;
const SEED = 1_302;

/**
 * Positive controls of the fault suite's acknowledgement checks (issue 13): the oracle passes on
 * what the clients were really told, and fails on each way a lost or doubled write can hide.
 * `lost 0` used to keep only the highest version per order, so an add-line acknowledged at v2,
 * lost in a crash, then a confirm decided at v2, passed.
 */
describe('fault oracle: acknowledgements held to the store and the topic', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  const told: Acknowledgement[] = [];

  before(async () => {
    env = await createTestEnvironment('fault_oracle', { partitions: 2 });
    system = await startSystem(env.config);
    const random = seededRandom(SEED);
    await inParallel(ORDERS, 3, async () => {
      await runRandomLifecycle(
        system.commandApi.getHttpServer(),
        seededRandom(Math.floor(random() * 2 ** 32)),
        undefined,
        {
          onAcknowledged: (orderId, version, eventType) => {
            told.push({ orderId, version, eventType });
          },
        },
      );
    });
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  /** What the clients were told, changed by `plant`. */
  const acknowledged = (
    plant: (entries: Acknowledgement[]) => Acknowledgement[] = (entries) => entries,
  ): AcknowledgedCommands => {
    const commands = new AcknowledgedCommands();
    for (const { orderId, version, eventType } of plant([...told])) commands.record(orderId, version, eventType);
    return commands;
  };
  const anOrderAtVersion = (atLeast: number): Acknowledgement => {
    const order = told.find((entry) => entry.version >= atLeast);
    assert.ok(order, `the load took an order to version ${String(atLeast)}`);
    return order;
  };

  it('passes on exactly what the clients were told', async () => {
    const figures = await assertGuarantees(env, acknowledged(), { topicMatchesStore: true });
    assert.deepEqual(
      { lost: figures.lost, unacknowledged: figures.unacknowledged, appliedTwice: figures.appliedTwice },
      { lost: 0, unacknowledged: 0, appliedTwice: 0 },
    );
    assert.equal(figures.acknowledged, told.length);
    assert.equal(figures.events, told.length, 'one stored event per acknowledged command');
  });

  it('fails on a command acknowledged at a version a later command also got (the lost write the old oracle missed)', async () => {
    const { orderId, version } = anOrderAtVersion(2);
    const lostLine: Acknowledgement = { orderId, version, eventType: 'OrderLineAdded' };
    await assert.rejects(
      assertGuarantees(
        env,
        acknowledged((entries) => [...entries, lostLine]),
      ),
      /acknowledged twice/,
    );
  });

  it('fails on an acknowledged command whose event is not stored, or stored as another event', async () => {
    const { orderId } = anOrderAtVersion(1);
    await assert.rejects(
      assertGuarantees(
        env,
        acknowledged((entries) => [...entries, { orderId, version: 99, eventType: 'OrderShipped' }]),
      ),
      /stored nothing/,
    );
    const { orderId: placed } = anOrderAtVersion(1);
    const wrongType = (entries: Acknowledgement[]): Acknowledgement[] =>
      entries.map((entry) =>
        entry.orderId === placed && entry.version === 1 ? { ...entry, eventType: 'OrderCancelled' } : entry,
      );
    await assert.rejects(
      assertGuarantees(env, acknowledged(wrongType)),
      /acknowledged as OrderCancelled, stored OrderPlaced/,
    );
  });

  it('fails on a stored event no client was told of, unless the scenario allows unanswered commands to land', async () => {
    const { orderId, version } = anOrderAtVersion(2);
    const forgotten = (entries: Acknowledgement[]): Acknowledgement[] =>
      entries.filter((entry) => !(entry.orderId === orderId && entry.version === version));
    await assert.rejects(assertGuarantees(env, acknowledged(forgotten)), /1 stored events no client was told of/);
    const figures = await assertGuarantees(env, acknowledged(forgotten), { unansweredMayLand: 1 });
    assert.equal(figures.unacknowledged, 1);
  });

  it('fails on a record on the topic that is not a stored event', async () => {
    const producer = env.kafka.producer();
    await producer.connect();
    try {
      const { orderId } = anOrderAtVersion(1);
      // A re-send of the order's first event in shape, but an event the store never held.
      const invented = encodeEnvelope(
        {
          eventId: '00000000-0000-4000-8000-000000000001',
          type: 'OrderPlaced',
          schemaVersion: 1,
          streamId: orderId,
          version: 1,
          occurredAt: new Date(0).toISOString(),
          data: {
            customerId: 'invented',
            currency: 'EUR',
            lines: [{ sku: 'INVENTED', quantity: 1, unitPriceMinor: 1 }],
          },
        },
        { correlationId: 'fault-oracle-control', causationId: 'fault-oracle-control' },
      );
      await producer.send({ topic: env.config.kafka.ordersTopic, acks: -1, messages: [invented] });
    } finally {
      await producer.disconnect();
    }
    await assert.rejects(
      assertGuarantees(env, acknowledged(), { topicMatchesStore: true, timeoutMs: 30_000 }),
      /every record on the topic is a stored event/,
    );
  });
});
