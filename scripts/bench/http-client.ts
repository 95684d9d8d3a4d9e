/**
 * The benchmark's own HTTP client for its open-loop phases, where it shares the machine with the
 * system it measures. `fetch` (undici behind web streams) spent about 1.1 ms of CPU per order placed
 * and read back, a third of a core at 300 orders/s taken from the system under test; `node:http`
 * over kept-alive sockets spends about a third of that (docs/benchmarks.md, "A fourteenth look").
 */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface JsonAnswer {
  readonly status: number;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  readonly body: unknown;
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
        headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, body: parsed(Buffer.concat(chunks).toString('utf8')) });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function parsed(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * Calls `send` `total` times at a steady `rate` per second, whatever the answers, and resolves with
 * every result once all have settled. Sleeps until the next one is due rather than polling.
 */
export async function atSteadyRate<T>(rate: number, total: number, send: (index: number) => Promise<T>): Promise<T[]> {
  const started = performance.now();
  const inFlight: Promise<T>[] = [];
  for (let sent = 0; sent < total;) {
    const elapsed = performance.now() - started;
    const due = Math.min(total, Math.floor((elapsed / 1_000) * rate) + 1);
    for (; sent < due; sent++) inFlight.push(send(sent));
    const nextAt = (sent / rate) * 1_000;
    if (sent < total) await new Promise((resolve) => setTimeout(resolve, Math.max(1, nextAt - elapsed)));
  }
  return Promise.all(inFlight);
}
