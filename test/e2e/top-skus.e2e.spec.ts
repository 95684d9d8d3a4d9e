import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import request from 'supertest';

import {
  assertReadModelsEqualFold,
  createTestEnvironment,
  eventually,
  startSystem,
  type RunningSystem,
  type TestEnvironment,
} from '@app/testing';

interface TopSkus {
  readonly from: string;
  readonly to: string;
  readonly items: readonly { sku: string; quantity: number; revenueByCurrency: Record<string, number | string> }[];
}

/**
 * GET /stats/top-skus through the whole pipeline: orders placed, confirmed, cancelled and returned
 * over HTTP, counted by the top-skus projection from the topic, read from the query API.
 */
describe('top SKUs: confirmed orders less cancelled and returned ones, by units', () => {
  let env: TestEnvironment;
  let system: RunningSystem;
  const sku = (name: string) => `TS-${name}`;
  const command = () => request(system.commandApi.getHttpServer());
  const query = () => request(system.queryApi.getHttpServer());

  async function order(currency: string, lines: [string, number, number][], then: string[]): Promise<void> {
    const { orderId } = (
      await command()
        .post('/orders')
        .send({
          customerId: `top-${randomUUID()}`,
          currency,
          lines: lines.map(([name, quantity, unitPriceMinor]) => ({ sku: sku(name), quantity, unitPriceMinor })),
        })
        .expect(201)
    ).body as { orderId: string };
    const bodies: Record<string, object> = {
      confirm: { paymentReference: 'pay' },
      ship: { carrier: 'DHL', trackingNumber: 'T' },
      deliver: {},
      cancel: { reason: 'changed my mind' },
      return: { reason: 'arrived damaged' },
    };
    for (const step of then) await command().post(`/orders/${orderId}/${step}`).send(bodies[step]).expect(200);
  }

  before(async () => {
    env = await createTestEnvironment('top_skus');
    system = await startSystem(env.config);
    await order(
      'EUR',
      [
        ['A', 5, 100],
        ['B', 1, 1000],
      ],
      ['confirm'],
    );
    await order(
      'EUR',
      [
        ['A', 2, 100],
        ['C', 3, 50],
      ],
      ['confirm', 'ship', 'deliver', 'return'],
    );
    await order('EUR', [['C', 4, 50]], ['confirm', 'cancel']);
    await order('USD', [['B', 2, 1000]], ['confirm']);
    await order('EUR', [['D', 9, 1]], []);
  });

  after(async () => {
    await system.close();
    await env.dispose();
  });

  it('ranks SKUs by units of the orders that still count, with their revenue per currency', async () => {
    const body = await eventually(
      async () => {
        const { body } = (await query().get('/stats/top-skus').expect(200)) as { body: TopSkus };
        assert.deepEqual(body.items, [
          { sku: sku('A'), quantity: 5, revenueByCurrency: { EUR: 500 } },
          { sku: sku('B'), quantity: 3, revenueByCurrency: { EUR: 1000, USD: 2000 } },
        ]);
        return body;
      },
      { timeoutMs: 60_000 },
    );
    const hours = (Date.parse(body.to) - Date.parse(body.from)) / 3_600_000;
    assert.ok(hours === 24 || hours === 25, `the last 24 hours, widened to whole hours: ${String(hours)}`);
    const { body: first } = (await query().get('/stats/top-skus?limit=1').expect(200)) as { body: TopSkus };
    assert.deepEqual(
      first.items.map((item) => item.sku),
      [sku('A')],
    );
    await eventually(() => assertReadModelsEqualFold(env), { timeoutMs: 60_000 });
  });

  it('counts nothing in a window before the orders were confirmed', async () => {
    const { body } = (await query()
      .get('/stats/top-skus?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z')
      .expect(200)) as { body: TopSkus };
    assert.deepEqual(body, { from: '2020-01-01T00:00:00.000Z', to: '2020-01-02T00:00:00.000Z', items: [] });
  });

  it('answers 400 naming the parameter for a limit outside 1 to 100, a bad time or an empty window', async () => {
    for (const [path, field] of [
      ['/stats/top-skus?limit=0', 'limit'],
      ['/stats/top-skus?limit=101', 'limit'],
      ['/stats/top-skus?limit=1.5', 'limit'],
      ['/stats/top-skus?limit=ten', 'limit'],
      ['/stats/top-skus?from=yesterday', 'from'],
      ['/stats/top-skus?to=2026-13-01T00:00:00Z', 'to'],
      ['/stats/top-skus?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ['/stats/top-skus?from=2026-01-01T10:30:00Z&to=2026-01-01T10:10:00Z', 'from'],
      ['/stats/top-skus?from=2026-01-01T10:00:00', 'from'],
      ['/stats/top-skus?sort=revenue', 'sort'],
    ] as const) {
      const { body } = (await query().get(path).expect(400)) as { body: { fields: { field: string }[] } };
      assert.ok(
        body.fields.some((problem) => problem.field === field),
        `${path}: ${JSON.stringify(body)}`,
      );
    }
  });
});
