import assert from 'node:assert/strict';
import { Agent, createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';

import { keepIdleConnectionsLonger } from './connections.js';

describe('keepIdleConnectionsLonger', () => {
  it('keeps idle connections 65 s, tells clients 5 s, and still lets close() finish as soon as the last response is sent', async () => {
    let handling: (answer: () => void) => void = () => undefined;
    const handled = new Promise<() => void>((resolve) => {
      handling = resolve;
    });
    const server: Server = createServer((_request, response) => {
      // The answer is held until the test has called close(): the connection is busy then.
      advertise(response);
      handling(() => response.end('ok'));
    });
    const advertise = keepIdleConnectionsLonger(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agent = new Agent({ keepAlive: true });
    try {
      const received = new Promise<{ status?: number; keepAlive: string }>((resolve, reject) => {
        get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, agent }, (response) => {
          response.resume();
          response.on('end', () => {
            resolve({ status: response.statusCode, keepAlive: String(response.headers['keep-alive']) });
          });
        }).on('error', reject);
      });
      const answer = await handled;
      const closed = new Promise<number>((resolve) => {
        const started = performance.now();
        server.close(() => {
          resolve(performance.now() - started);
        });
      });
      answer();
      assert.deepEqual(await received, { status: 200, keepAlive: 'timeout=5' });
      assert.equal(server.keepAliveTimeout, 65_000);
      const closingMs = await closed;
      assert.ok(
        closingMs < 5_000,
        `close() took ${String(Math.round(closingMs))} ms: the kept-alive connection held it`,
      );
    } finally {
      agent.destroy();
      server.closeAllConnections();
    }
  });
});
