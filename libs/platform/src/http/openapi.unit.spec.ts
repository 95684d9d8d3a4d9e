import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { serverUrl } from './openapi.js';

describe("the OpenAPI document's server address", () => {
  it('is the configured host and port', () => {
    assert.equal(serverUrl('127.0.0.1', 3000), 'http://127.0.0.1:3000');
    assert.equal(serverUrl('orders.internal', 3001), 'http://orders.internal:3001');
  });

  it('names the loopback address where the API listens on every address, which no client can dial', () => {
    assert.equal(serverUrl('0.0.0.0', 3000), 'http://127.0.0.1:3000');
    assert.equal(serverUrl('::', 3001), 'http://[::1]:3001');
  });

  it('puts an IPv6 address in brackets', () => {
    assert.equal(serverUrl('::1', 3000), 'http://[::1]:3000');
    assert.equal(serverUrl('fd00::5', 3000), 'http://[fd00::5]:3000');
  });
});
