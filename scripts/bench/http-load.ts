import { randomUUID } from 'node:crypto';

import autocannon from 'autocannon';

/** The body every measured POST sends: an order of two lines, as a client would place it. */
export const ORDER_BODY = JSON.stringify({
  customerId: 'customer-bench',
  currency: 'EUR',
  lines: [
    { sku: 'SKU-A', quantity: 2, unitPriceMinor: 1_250 },
    { sku: 'SKU-B', quantity: 1, unitPriceMinor: 4_990 },
  ],
});

export interface HttpLoadResult {
  /** Successful (2xx) answers per second. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  readonly failed: number;
}

/**
 * Closed-loop load: `connections` keep-alive connections, each sending the next POST as soon as the
 * last one is answered, each with its own Idempotency-Key (as a careful client sends). The same
 * generator measures the HTTP ceiling and the command API, so their ratio compares like with like.
 */
export async function postLoad(
  url: string,
  { connections, durationSeconds }: { connections: number; durationSeconds: number },
): Promise<HttpLoadResult> {
  const result = await autocannon({
    url,
    connections,
    duration: durationSeconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: ORDER_BODY,
        setupRequest: (request) => ({ ...request, headers: { ...request.headers, 'idempotency-key': randomUUID() } }),
      },
    ],
  });
  const failed = result.non2xx + result.errors;
  return {
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    failed,
  };
}
