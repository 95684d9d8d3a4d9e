/**
 * The benchmark's own HTTP client for its open-loop phases and the relays' burst, where it shares
 * the machine with the system it measures. `fetch` (undici behind web streams) spent about 1.1 ms
 * of CPU per order placed and read back in a probe, `node:http` over kept-alive sockets about a
 * third of that (docs/benchmarks.md, "A fourteenth look").
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';

import { ORDER_BODY } from './http-load.js';

/** No limit on sockets per origin, as `fetch` had none: a phase's concurrency is the caller's. */
const agent = new http.Agent({ keepAlive: true });

/** Longer than any answer the benchmark waits for (a `minVersion` read waits 5 s at most). */
const REQUEST_TIMEOUT_MS = 60_000;

export interface JsonAnswer {
  readonly status: number;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  readonly body: unknown;
  /** The body as it came, for error messages. */
  readonly text: string;
}

/** One request over the kept-alive pool; resolves once the whole answer is read. */
export function requestJson(
  url: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method,
        agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode ?? 0, body: parsed(text), text });
        });
      },
    );
    request.on('timeout', () => {
      request.destroy(new Error(`${method} ${url}: no answer within ${String(REQUEST_TIMEOUT_MS)} ms`));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Places the benchmark's order with a fresh `Idempotency-Key`; resolves with its id and when its 201 was read. */
export async function placeOrder(commandUrl: string): Promise<{ orderId: string; answeredAt: number }> {
  const answer = await requestJson(`${commandUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: ORDER_BODY,
  });
  const answeredAt = performance.now();
  const { orderId } = (answer.body ?? {}) as { orderId?: string };
  if (answer.status !== 201 || orderId === undefined)
    throw new Error(`POST /orders answered ${String(answer.status)}: ${answer.text}`);
  return { orderId, answeredAt };
}

function parsed(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * Calls `send` `total` times at a steady `rate` per second, whatever the answers: a failed call
 * does not stop the schedule. Once every call has settled, resolves with their results in order, or
 * rejects with the first failure. Sleeps until the next call is due rather than polling.
 */
export async function atSteadyRate<T>(rate: number, total: number, send: (index: number) => Promise<T>): Promise<T[]> {
  if (!(rate > 0 && Number.isFinite(rate))) throw new RangeError(`rate must be a positive number, not ${String(rate)}`);
  const started = performance.now();
  const inFlight: Promise<T>[] = [];
  for (let sent = 0; sent < total;) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1_000) * rate) + 1);
    for (; sent < due; sent++) {
      const call = send(sent);
      call.catch(() => undefined); // settled below: not an unhandled rejection while the schedule runs
      inFlight.push(call);
    }
    if (sent < total) {
      const nextDueIn = (sent / rate) * 1_000 - (performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.ceil(nextDueIn))));
    }
  }
  const settled = await Promise.allSettled(inFlight);
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
}
