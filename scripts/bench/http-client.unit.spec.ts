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
    assert.deepEqual(read, { status: 200, body: { method: 'GET', url: '/orders/1?minVersion=1', body: '' } });
  });

  it('gives an answer that is not JSON as its status with no body', async () => {
    assert.deepEqual(await requestJson(`${base}/not-json`), { status: 500, body: undefined });
  });

  it('rejects when nothing listens', async () => {
    await assert.rejects(requestJson('http://127.0.0.1:1/'), /ECONNREFUSED/);
  });

  it('sends each of a steady rate once, in order, and resolves with every result', async () => {
    const sent: number[] = [];
    const results = await atSteadyRate(2_000, 25, (index) => {
      sent.push(index);
      return Promise.resolve(index * 10);
    });
    assert.deepEqual(
      sent,
      Array.from({ length: 25 }, (_, index) => index),
    );
    assert.deepEqual(
      results,
      sent.map((index) => index * 10),
    );
  });
});
