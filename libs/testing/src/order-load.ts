import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import request from 'supertest';

import type { OrderEventType } from '@app/orders-domain';

import { COMMAND_CATALOGUE, type CommandEntry } from './command-contract.js';
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

export interface LifecycleOptions {
  /** Told of every command the command API answered with a 2xx: what the client was promised. */
  readonly onAcknowledged?: (orderId: string, version: number, eventType: OrderEventType) => void;
  /**
   * Sends every command with its own Idempotency-Key and, until this many milliseconds have passed,
   * sends it again with the same key when there is no answer (connection refused or reset, a 5xx):
   * a client that survives a command API crash. Without it a failed request fails the lifecycle.
   */
  readonly retryForMs?: number;
  /** Told each time a command is sent again (with its key) because it had no answer, and why. */
  readonly onRetry?: (error: unknown) => void;
  /** Told when a resent command is answered from its recorded response: it had committed before the failure. */
  readonly onReplayed?: () => void;
  /**
   * How long attempt `attempt` of a command waits for its answer (no limit when undefined). A client
   * that gives up on an attempt, which may well have landed, sends it again with its key (`retryForMs`).
   */
  readonly attemptTimeoutMs?: (attempt: number) => number | undefined;
}

export interface CommandAnswer {
  readonly status: number;
  readonly text: string;
  readonly body: unknown;
}

/**
 * The event a successful command appends, from its method and path (`/orders`, `/orders/:id/lines`,
 * `/lines/:sku`, `/confirm`, …; a path relative to its order works too): what its client was told
 * happened. From the command catalogue, which the compiler keeps naming every event.
 */
export function eventTypeOfCommand(method: 'post' | 'delete', path: string): OrderEventType {
  const segments = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  const absolute = segments[0] === 'orders' ? segments : ['orders', ':id', ...segments];
  const found = Object.values<CommandEntry>(COMMAND_CATALOGUE).find(
    ({ method: expected, pattern }) =>
      expected === method.toUpperCase() &&
      pattern.length === absolute.length &&
      pattern.every((part, index) => part.startsWith(':') || part === absolute[index]),
  );
  if (!found) throw new Error(`no order event is appended by ${method.toUpperCase()} ${path}`);
  return found.event;
}

/**
 * One command over HTTP; with `retryForMs`, with an Idempotency-Key (`idempotencyKey` or a new one)
 * and sent again, same key, until it is answered.
 */
export async function sendCommand(
  commandApi: TestServer,
  method: 'post' | 'delete',
  path: string,
  body: object | undefined,
  {
    retryForMs,
    onRetry,
    onReplayed,
    attemptTimeoutMs,
    idempotencyKey,
  }: LifecycleOptions & { idempotencyKey?: string } = {},
): Promise<CommandAnswer> {
  const key = retryForMs === undefined ? idempotencyKey : (idempotencyKey ?? randomUUID());
  const deadline = Date.now() + (retryForMs ?? 0);
  for (let attempt = 1; ; attempt++) {
    try {
      const call = method === 'post' ? request(commandApi).post(path) : request(commandApi).delete(path);
      if (key) call.set('Idempotency-Key', key);
      const timeout = attemptTimeoutMs?.(attempt);
      if (timeout !== undefined) void call.timeout(timeout);
      const response = await (body ? call.send(body) : call);
      if (key && response.status >= 500 && Date.now() < deadline)
        throw new Error(`${String(response.status)} ${response.text}`);
      if (attempt > 1 && response.headers['idempotent-replayed'] === 'true') onReplayed?.();
      return { status: response.status, text: response.text, body: response.body as unknown };
    } catch (error) {
      if (!key || Date.now() >= deadline) throw error;
      onRetry?.(error);
      // A client backing off before it asks again; the process may be restarting.
      await new Promise((resolve) => setTimeout(resolve, Math.min(500, 25 * attempt)));
    }
  }
}

/**
 * Places one order and takes it through a random lifecycle over HTTP: more lines, a removed line,
 * then cancelled, or confirmed and maybe shipped and delivered. With a query API, checks after every
 * command that `GET /orders/:id?minVersion=<version>` shows exactly that version (read-your-writes).
 */
export async function runRandomLifecycle(
  commandApi: TestServer,
  random: () => number,
  queryApi?: TestServer,
  options: LifecycleOptions = {},
): Promise<LifecycleResult> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const line = (index: number) => ({
    sku: `SKU-${index}-${Math.floor(random() * 1_000)}`,
    quantity: 1 + Math.floor(random() * 5),
    unitPriceMinor: 100 + Math.floor(random() * 10_000),
  });
  const lines = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, index) => line(index));
  const visibleAfterMs: number[] = [];
  const { onAcknowledged } = options;

  const placed = await sendCommand(
    commandApi,
    'post',
    '/orders',
    { customerId: `customer-${Math.floor(random() * 50)}`, currency: pick(CURRENCIES), lines },
    options,
  );
  assert.equal(placed.status, 201, `place order: ${placed.text}`);
  const orderId = (placed.body as { orderId: string }).orderId;
  let version = (placed.body as { version: number }).version;
  assert.equal(version, 1, `a placed order is at version 1: ${placed.text}`);
  onAcknowledged?.(orderId, version, 'OrderPlaced');

  const check = async (): Promise<void> => {
    if (!queryApi) return;
    const answeredAt = performance.now();
    const read = await request(queryApi).get(`/orders/${orderId}?minVersion=${version}`);
    assert.equal(read.status, 200, `read-your-writes for ${orderId}@${version}: ${read.text}`);
    assert.equal((read.body as { version: number }).version, version);
    visibleAfterMs.push(performance.now() - answeredAt);
  };
  // One client changes the order, so each answer is the version before it plus one.
  const command = async (
    eventType: OrderEventType,
    path: string,
    body?: object,
    method: 'post' | 'delete' = 'post',
  ): Promise<void> => {
    const response = await sendCommand(commandApi, method, `/orders/${orderId}${path}`, body, options);
    assert.equal(response.status, 200, `${method} ${path}: ${response.text}`);
    const next = (response.body as { version: number }).version;
    assert.equal(
      next,
      version + 1,
      `${method} ${path} of ${orderId} answered version ${String(next)} after ${String(version)}`,
    );
    version = next;
    onAcknowledged?.(orderId, version, eventType);
    await check();
  };

  await check();
  const extra = Math.floor(random() * 3);
  for (let index = 0; index < extra; index++) await command('OrderLineAdded', '/lines', line(10 + index));
  if (lines.length > 1 && random() < 0.3)
    await command('OrderLineRemoved', `/lines/${lines[0]?.sku ?? ''}`, undefined, 'delete');
  if (random() < 0.15) {
    await command('OrderCancelled', '/cancel', { reason: 'changed my mind' });
  } else {
    await command('OrderConfirmed', '/confirm', { paymentReference: `pay-${orderId.slice(0, 8)}` });
    if (random() < 0.1) await command('OrderCancelled', '/cancel', { reason: 'out of stock' });
    else if (random() < 0.8) {
      await command('OrderShipped', '/ship', {
        carrier: pick(['DHL', 'UPS', 'PostNL']),
        trackingNumber: `T-${orderId.slice(0, 8)}`,
      });
      if (random() < 0.7) {
        await command('OrderDelivered', '/deliver');
        if (random() < 0.2) await command('OrderReturned', '/return', { reason: 'arrived damaged' });
      }
    }
  }
  return { orderId, version, visibleAfterMs };
}

/**
 * Runs random lifecycles, `clients` at a time with a short pause after each, until `stop.done` is set
 * or `max` orders were placed; returns how many were. The pace keeps the log small enough for the
 * catch-up after a fault to take seconds.
 */
export async function loadUntil(
  commandApi: TestServer,
  seed: number,
  stop: { readonly done: boolean },
  {
    clients = 2,
    max = 2_000,
    pauseMs = 50,
    ...options
  }: LifecycleOptions & { clients?: number; max?: number; pauseMs?: number } = {},
): Promise<number> {
  const random = seededRandom(seed);
  let placed = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (!stop.done && placed < max) {
        placed++;
        await runRandomLifecycle(commandApi, seededRandom(Math.floor(random() * 2 ** 32)), undefined, options);
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }),
  );
  return placed;
}

/** Runs `task` for 0..count-1 with at most `concurrency` at once. */
export async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
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
