import { randomUUID } from 'node:crypto';

import type { AcknowledgedCommands } from './fault-oracle.js';

export interface RetriedAnswer {
  readonly status: number;
  readonly body: unknown;
  /** 1 when the first attempt was answered; more when it failed, timed out or got a 5xx and was sent again. */
  readonly attempts: number;
}

export interface RetryingClientOptions {
  /** Per attempt: an answer slower than this counts as lost, and the command is sent again. */
  readonly attemptTimeoutMs?: number;
  /** How long one command is retried before the client gives up (and the test fails). */
  readonly giveUpAfterMs?: number;
  /**
   * The timeout of each command's first attempt, if not attemptTimeoutMs: a seeded short one makes
   * a client give up on requests that may well have landed, and retry them with the same key.
   */
  readonly firstAttemptTimeoutMs?: () => number;
}

/**
 * An HTTP client that behaves as the contract tells clients to: every command carries an
 * Idempotency-Key, and a command whose answer was lost (connection refused or reset, a timeout, a
 * 5xx) is sent again with the same key until it gets a definite answer.
 */
export class RetryingClient {
  /** Commands that needed more than one attempt. */
  retried = 0;
  /** Attempts the client stopped waiting for (whether or not the command landed). */
  timedOut = 0;
  /** Retries answered with their first attempt's response (`Idempotent-Replayed`): that attempt had landed. */
  replayed = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly options: RetryingClientOptions = {},
  ) {}

  async send(method: 'POST' | 'DELETE', path: string, body?: object): Promise<RetriedAnswer> {
    const key = randomUUID();
    const { attemptTimeoutMs = 10_000, giveUpAfterMs = 120_000 } = this.options;
    const deadline = Date.now() + giveUpAfterMs;
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      try {
        const response = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: { 'Idempotency-Key': key, ...(body ? { 'Content-Type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(attempt === 1 && this.options.firstAttemptTimeoutMs ? this.options.firstAttemptTimeoutMs() : attemptTimeoutMs),
        });
        const text = await response.text();
        if (response.status < 500) {
          if (attempt > 1) this.retried++;
          if (response.headers.get('idempotent-replayed') === 'true') this.replayed++;
          return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined, attempts: attempt };
        }
        failure = `${response.status} ${text}`;
      } catch (error) {
        if (error instanceof DOMException && error.name === 'TimeoutError') this.timedOut++;
        failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      if (Date.now() > deadline) throw new Error(`${method} ${path} still failing after ${attempt} attempts: ${failure}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * 2 ** attempt)));
    }
  }
}

export interface RetriedLifecycle {
  readonly orderId: string;
  /** Commands acknowledged with 2xx on this order, including the one that placed it. */
  readonly commands: number;
}

/**
 * Places one order and takes it through a random lifecycle with a RetryingClient, recording every
 * acknowledged command. Any answer but 2xx fails: a retry that finds its first attempt already
 * applied must get that attempt's answer back, never a 409 or a second effect.
 */
export async function runRetriedLifecycle(
  client: RetryingClient,
  random: () => number,
  acknowledged: AcknowledgedCommands,
): Promise<RetriedLifecycle> {
  const line = (index: number): object => ({ sku: `SKU-${index}-${Math.floor(random() * 1_000)}`, quantity: 1 + Math.floor(random() * 5), unitPriceMinor: 100 + Math.floor(random() * 10_000) });
  const expectOk = (answer: RetriedAnswer, what: string): { orderId: string; version: number } => {
    if (answer.status !== 200 && answer.status !== 201) throw new Error(`${what} answered ${answer.status} after ${answer.attempts} attempts: ${JSON.stringify(answer.body)}`);
    return answer.body as { orderId: string; version: number };
  };
  const lines = Array.from({ length: 1 + Math.floor(random() * 2) }, (_, index) => line(index));
  const placed = expectOk(
    await client.send('POST', '/orders', { customerId: `customer-${Math.floor(random() * 50)}`, currency: random() < 0.5 ? 'EUR' : 'USD', lines }),
    'place order',
  );
  const orderId = placed.orderId;
  acknowledged.record(orderId, placed.version);
  let commands = 1;
  const command = async (path: string, body?: object): Promise<void> => {
    const { version } = expectOk(await client.send('POST', `/orders/${orderId}${path}`, body), path);
    acknowledged.record(orderId, version);
    commands++;
  };
  if (random() < 0.5) await command('/lines', line(10));
  if (random() < 0.15) {
    await command('/cancel', { reason: 'changed my mind' });
  } else {
    await command('/confirm', { paymentReference: `pay-${orderId.slice(0, 8)}` });
    if (random() < 0.8) {
      await command('/ship', { carrier: 'DHL', trackingNumber: `T-${orderId.slice(0, 8)}` });
      if (random() < 0.7) await command('/deliver');
    }
  }
  return { orderId, commands };
}
