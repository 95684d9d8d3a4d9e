import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';
import request from 'supertest';

import { encodeEnvelope } from '@app/messaging';
import { LIVE_GENERATION_LOCK, projections } from '@app/projections';
import {
  ADMIN_AUTH,
  AcknowledgedCommands,
  AdminCliProcess,
  assertGuarantees,
  createTestEnvironment,
  eventTypeOfCommand,
  eventually,
  listParkedEvents,
  loadUntil,
  placeOrderBody,
  rebuildThroughAdminApi,
  reportFigure,
  requestRebuild,
  startSystem,
  waitUntilSwitched,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

interface ViewBody {
  readonly version?: number;
  readonly lines?: readonly { sku: string }[];
}

/**
 * Points 3 and 4 of issue 12: what an operator decides about parked events holds everywhere.
 *
 * Impostors (an unknown event type claiming an order's next version, and a known type claiming a
 * later version than the order has) are produced onto the topic before the real events of those
 * versions, which park behind them. Discarding the impostors and retrying must apply the real events
 * (never skip them because an impostor claimed their version). Every projection is then rebuilt and
 * one order replayed alone: no order may come back at an older version, and nothing discarded may
 * be parked again. Last, a decision made while a rebuild has filled its generation and waits to
 * switch is followed by that generation too.
 */
describe('fault: discarded impostors, retried orders, and decisions that survive rebuilds', () => {
  let env: TestEnvironment;
  let system: RunningSystem;

  before(async () => {
    env = await createTestEnvironment('discard_decisions', { partitions: 3 });
    system = await startSystem(env.config);
  });

  /** Sessions holding the live generation's lock, ended whatever happens. */
  const holders: pg.Client[] = [];

  after(async () => {
    await Promise.all(holders.map((holder) => holder.end().catch(() => undefined)));
    await system.close();
    await env.dispose();
  });

  const query = (): ReturnType<RunningSystem['queryApi']['getHttpServer']> => system.queryApi.getHttpServer();
  const view = async (orderId: string): Promise<ViewBody> =>
    (await request(query()).get(`/orders/${orderId}`)).body as ViewBody;
  const acknowledged = new AcknowledgedCommands();
  const command = async (orderId: string, path: string, body: object): Promise<void> => {
    const answer = await request(system.commandApi.getHttpServer())
      .post(`/orders/${orderId}${path}`)
      .send(body)
      .expect(200);
    acknowledged.record(orderId, (answer.body as { version: number }).version, eventTypeOfCommand('post', path));
  };
  const place = async (customerId: string): Promise<string> => {
    const answer = await request(system.commandApi.getHttpServer())
      .post('/orders')
      .send(placeOrderBody({ customerId }))
      .expect(201);
    const { orderId } = answer.body as { orderId: string };
    acknowledged.record(orderId, 1, 'OrderPlaced');
    await eventually(async () => {
      assert.equal((await view(orderId)).version, 1);
    });
    return orderId;
  };
  const produceImpostor = async (orderId: string, type: string, version: number): Promise<void> => {
    const producer = env.kafka.producer();
    await producer.connect();
    const record = encodeEnvelope(
      {
        eventId: randomUUID(),
        type,
        schemaVersion: 1,
        streamId: orderId,
        version,
        occurredAt: new Date().toISOString(),
        data: { paymentReference: 'impostor' },
      },
      { correlationId: 'impostor', causationId: 'impostor' },
    );
    await producer.send({ topic: env.config.kafka.ordersTopic, acks: -1, messages: [record] });
    await producer.disconnect();
  };
  /** An impostor, then the order's real v2 (a line) and v3 (confirmed), which park behind it in every projection. */
  const impostorThenRealEvents = async (orderId: string, type: string, version: number): Promise<void> => {
    await produceImpostor(orderId, type, version);
    await command(orderId, '/lines', { sku: 'REAL-LINE', quantity: 1, unitPriceMinor: 700 });
    await command(orderId, '/confirm', { paymentReference: 'real-payment' });
  };
  const parkedOf = async (orderIds: readonly string[]): Promise<Awaited<ReturnType<typeof listParkedEvents>>> =>
    (await listParkedEvents(query())).filter((item) => item.orderId !== null && orderIds.includes(item.orderId));
  /** Discards each order's dead-lettered impostor in every projection, then retries the orders. */
  const discardAndRetry = async (orderIds: readonly string[]): Promise<number> => {
    const impostors = (await parkedOf(orderIds)).filter((item) => item.deadLettered);
    assert.equal(impostors.length, orderIds.length * projections.length, 'one impostor per order and projection');
    for (const item of impostors)
      await request(query()).delete(`/admin/parked-events/${item.id}`).set(ADMIN_AUTH).expect(200);
    for (const orderId of orderIds) {
      const retried = await request(query())
        .post(`/admin/parked-events/orders/${orderId}/retry`)
        .set(ADMIN_AUTH)
        .expect(200);
      for (const outcome of Object.values(retried.body as Record<string, { applied: number; stillParked: number }>))
        assert.equal(outcome.stillParked, 0);
    }
    return impostors.length;
  };
  const orderVersions = async (): Promise<Map<string, number>> =>
    new Map(
      (
        await env.readDb.query<{ order_id: string; version: number }>('SELECT order_id::text, version FROM order_view')
      ).rows.map((row) => [row.order_id, row.version]),
    );
  const wentBack = (before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): string[] =>
    [...before].filter(([orderId, version]) => (after.get(orderId) ?? 0) < version).map(([orderId]) => orderId);

  it('applies the real events behind discarded impostors, and every generation and replay follows the decisions', async () => {
    const started = performance.now();
    const stop = { done: false };
    const load = loadUntil(system.commandApi.getHttpServer(), 31, stop, {
      clients: 1,
      pauseMs: 50,
      onAcknowledged: (orderId, version, eventType) => {
        acknowledged.record(orderId, version, eventType);
      },
    });

    // Point 3: impostors of an unknown type and of a version another record claims later.
    const unknownType = await place('impostor-unknown-type');
    const laterVersion = await place('impostor-later-version');
    await impostorThenRealEvents(unknownType, 'OrderTeleported', 2);
    await impostorThenRealEvents(laterVersion, 'OrderConfirmed', 3);
    await eventually(
      async () => {
        assert.equal((await parkedOf([unknownType, laterVersion])).length, 2 * 3 * projections.length);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    let discarded = await discardAndRetry([unknownType, laterVersion]);
    for (const orderId of [unknownType, laterVersion]) {
      const shown = await view(orderId);
      assert.equal(shown.version, 3, 'the real v2 and v3 applied');
      assert.ok(
        shown.lines?.some((line) => line.sku === 'REAL-LINE'),
        'the real event of the version the impostor claimed was not skipped',
      );
    }
    assert.deepEqual(await parkedOf([unknownType, laterVersion]), []);

    // Point 4: every projection rebuilt, then one order replayed alone.
    const beforeRebuilds = await orderVersions();
    for (const projection of projections) await rebuildThroughAdminApi(query(), projection.name);
    const reparked = await parkedOf([unknownType, laterVersion]);
    const olderAfterRebuild = wentBack(beforeRebuilds, await orderVersions());
    assert.deepEqual(reparked, [], 'nothing discarded is parked again by a rebuild');
    assert.deepEqual(olderAfterRebuild, [], 'no order is shown at an older version after the rebuilds');
    const replay = await new AdminCliProcess(env.config, ['order-view', '--order', unknownType]).exited;
    assert.equal(replay.code, 0, replay.stderr + replay.stdout);
    assert.equal((await view(unknownType)).version, 3, 'the single-order replay follows the discard');
    assert.deepEqual(await parkedOf([unknownType]), []);

    // A decision made while a rebuild has filled its generation (parking the order there) and waits to switch.
    const duringRebuild = await place('decided-during-rebuild');
    await impostorThenRealEvents(duringRebuild, 'OrderTeleported', 2);
    await eventually(
      async () => {
        assert.equal((await parkedOf([duringRebuild])).length, 3 * projections.length);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const holder = new pg.Client({ connectionString: env.config.readDatabaseUrl });
    holders.push(holder);
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock_shared($1, hashtext($2))', [LIVE_GENERATION_LOCK, 'order-view']);
    const statusUrl = await requestRebuild(query(), 'order-view');
    const building = await eventually(
      async () => {
        const { rows } = await env.readDb.query<{ schema_name: string | null }>(
          "SELECT schema_name FROM projection_rebuilds WHERE projection = 'order-view' AND state = 'running'",
        );
        const schema = rows[0]?.schema_name ?? '';
        assert.ok(schema !== '', 'the rebuild has created its generation');
        const { rows: parked } = await env.readDb.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${schema}".parked_events WHERE order_id = $1`,
          [duringRebuild],
        );
        assert.equal(parked[0]?.n, 3, 'the rebuild has parked the order in its generation');
        const { rows: waiting } = await env.readDb.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objsubid = 2 AND mode = 'ExclusiveLock' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
          [LIVE_GENERATION_LOCK],
        );
        assert.equal(waiting[0]?.n, 1, 'the rebuild has filled its generation and waits to switch');
        return schema;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    discarded += await discardAndRetry([duringRebuild]);
    const { rows: stillWaiting } = await env.readDb.query<{ state: string }>(
      'SELECT state FROM projection_rebuilds WHERE schema_name = $1',
      [building],
    );
    assert.deepEqual(
      stillWaiting.map((row) => row.state),
      ['running'],
      'the decision was made before the rebuild switched',
    );
    await holder.query('COMMIT');
    await waitUntilSwitched(query(), statusUrl);
    const { rows: live } = await env.readDb.query<{ schema_name: string }>(
      "SELECT schema_name FROM projection_generations WHERE projection = 'order-view'",
    );
    assert.equal(live[0]?.schema_name, building, 'the generation that followed the decision is live');
    assert.equal((await view(duringRebuild)).version, 3, 'the new generation shows the order where the live one did');
    assert.deepEqual(await parkedOf([duringRebuild]), []);

    stop.done = true;
    await load;
    const figures = await assertGuarantees(env, acknowledged);
    const impostors = [unknownType, laterVersion, duringRebuild].length;
    assert.equal(discarded, impostors * projections.length, 'each impostor discarded once in every projection');
    reportFigure('discard-decisions', {
      impostors,
      discarded,
      realEventsSkipped: 0,
      rebuildsSwitched: projections.length + 1,
      reparkedAfterRebuild: reparked.length,
      ordersOlderAfterRebuild: olderAfterRebuild.length,
      decisionDuringRebuildFollowed: true,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      appliedTwice: figures.appliedTwice,
      readModelsEqualToFold: true,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
    });
  });
});
