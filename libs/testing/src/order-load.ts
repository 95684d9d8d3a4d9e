import assert from 'node:assert/strict';

import request from 'supertest';

import type { TestServer } from './test-app.js';

/** A small seeded generator (mulberry32): the same seed gives the same load. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface LifecycleResult {
  readonly orderId: string;
  readonly version: number;
  /** Per command: milliseconds from the command's answer until the query API showed its version. */
  readonly visibleAfterMs: readonly number[];
}

const CURRENCIES = ['EUR', 'USD', 'GBP'];

/**
 * Places one order and takes it through a random lifecycle over HTTP: more lines, a removed line,
 * then cancelled, or confirmed and maybe shipped and delivered. With a query API, checks after every
 * command that `GET /orders/:id?minVersion=<version>` shows exactly that version (read-your-writes).
 */
export async function runRandomLifecycle(commandApi: TestServer, random: () => number, queryApi?: TestServer): Promise<LifecycleResult> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const line = (index: number) => ({ sku: `SKU-${index}-${Math.floor(random() * 1_000)}`, quantity: 1 + Math.floor(random() * 5), unitPriceMinor: 100 + Math.floor(random() * 10_000) });
  const lines = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, index) => line(index));
  const visibleAfterMs: number[] = [];

  const placed = await request(commandApi)
    .post('/orders')
    .send({ customerId: `customer-${Math.floor(random() * 50)}`, currency: pick(CURRENCIES), lines })
    .expect(201);
  const orderId = (placed.body as { orderId: string }).orderId;
  let version = 1;

  const check = async (): Promise<void> => {
    if (!queryApi) return;
    const answeredAt = performance.now();
    const read = await request(queryApi).get(`/orders/${orderId}?minVersion=${version}`);
    assert.equal(read.status, 200, `read-your-writes for ${orderId}@${version}: ${read.text}`);
    assert.equal((read.body as { version: number }).version, version);
    visibleAfterMs.push(performance.now() - answeredAt);
  };
  const command = async (path: string, body?: object, method: 'post' | 'delete' = 'post'): Promise<void> => {
    const call = method === 'post' ? request(commandApi).post(`/orders/${orderId}${path}`) : request(commandApi).delete(`/orders/${orderId}${path}`);
    const response = await (body ? call.send(body) : call);
    assert.equal(response.status, 200, `${method} ${path}: ${response.text}`);
    version = (response.body as { version: number }).version;
    await check();
  };

  await check();
  const extra = Math.floor(random() * 3);
  for (let index = 0; index < extra; index++) await command('/lines', line(10 + index));
  if (lines.length > 1 && random() < 0.3) await command(`/lines/${lines[0]?.sku ?? ''}`, undefined, 'delete');
  if (random() < 0.15) {
    await command('/cancel', { reason: 'changed my mind' });
  } else {
    await command('/confirm', { paymentReference: `pay-${orderId.slice(0, 8)}` });
    if (random() < 0.1) await command('/cancel', { reason: 'out of stock' });
    else if (random() < 0.8) {
      await command('/ship', { carrier: pick(['DHL', 'UPS', 'PostNL']), trackingNumber: `T-${orderId.slice(0, 8)}` });
      if (random() < 0.7) await command('/deliver');
    }
  }
  return { orderId, version, visibleAfterMs };
}

/** Runs `task` for 0..count-1 with at most `concurrency` at once. */
export async function inParallel<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
