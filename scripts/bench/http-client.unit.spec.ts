import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { atSteadyRate, requestJson } from './http-client.js';

describe("the bench's HTTP client", () => {
  let server: http.Server;
  let base = '';
  before(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        if (request.url === '/not-json') {
          response.writeHead(500).end('<html>');
          return;
        }
        if (request.url === '/hang-up') {
          request.socket.destroy();
          return;
        }
        response.writeHead(request.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ method: request.method, url: request.url, body, key: request.headers['idempotency-key'] }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the method, headers and body, and parses the JSON answer', async () => {
    const answer = await requestJson(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      body: '{"é":1}',
    });
    assert.equal(answer.status, 201);
    assert.deepEqual(answer.body, { method: 'POST', url: '/orders', body: '{"é":1}', key: 'k-1' });
    const read = await requestJson(`${base}/orders/1?minVersion=1`);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { method: 'GET', url: '/orders/1?minVersion=1', body: '' });
  });

  it('gives an answer that is not JSON as its status and text, with no body', async () => {
    assert.deepEqual(await requestJson(`${base}/not-json`), { status: 500, body: undefined, text: '<html>' });
  });

  it('rejects when nothing listens, and when the server hangs up', async () => {
    await assert.rejects(requestJson('http://127.0.0.1:1/'), /ECONNREFUSED/);
    await assert.rejects(requestJson(`${base}/hang-up`), /socket hang up|ECONNRESET/);
  });

  it('sends each of a steady rate once, in order, none before it is due, and resolves with every result', async () => {
    const rate = 500; // one every 2 ms
    const sentAt: number[] = [];
    const started = performance.now();
    const results = await atSteadyRate(rate, 10, (index) => {
      sentAt.push(performance.now() - started);
      return Promise.resolve(index * 10);
    });
    assert.equal(sentAt.length, 10);
    for (const [index, at] of sentAt.entries())
      assert.ok(at >= (index / rate) * 1_000 - 0.5, `call ${String(index)} at ${at.toFixed(2)} ms`);
    assert.deepEqual(
      results,
      Array.from({ length: 10 }, (_, index) => index * 10),
    );
  });

  it('keeps to its schedule when a call fails, and rejects with the first failure once all have settled', async () => {
    const settled: number[] = [];
    // Call 1 fails at once, while the schedule still has calls to send: no unhandled rejection meanwhile.
    const outcome = atSteadyRate(200, 5, async (index) => {
      if (index !== 1) await new Promise((resolve) => setTimeout(resolve, 5 - index));
      settled.push(index);
      if (index === 1 || index === 3) throw new Error(`call ${String(index)} failed`);
      return index;
    });
    await assert.rejects(outcome, /call 1 failed/);
    assert.deepEqual([...settled].sort(), [0, 1, 2, 3, 4]);
  });

  it('refuses a rate that is not a positive number', async () => {
    for (const rate of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      await assert.rejects(
        atSteadyRate(rate, 1, () => Promise.resolve(0)),
        RangeError,
      );
  });
});
