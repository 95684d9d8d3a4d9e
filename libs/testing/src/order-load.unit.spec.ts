import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { COMMAND_CATALOGUE, COMMAND_TYPES, commandPath } from './command-contract.js';
import { eventTypeOfCommand } from './order-load.js';

const ORDER = '00000000-0000-4000-8000-000000000001';

describe('eventTypeOfCommand', () => {
  it('names the event of every command, from its absolute path or one relative to its order', () => {
    for (const [method, path, type] of [
      ['post', '/orders', 'OrderPlaced'],
      ['post', `/orders/${ORDER}/lines`, 'OrderLineAdded'],
      ['post', '/lines', 'OrderLineAdded'],
      ['delete', `/orders/${ORDER}/lines/BOOK-1`, 'OrderLineRemoved'],
      ['delete', '/lines/BOOK-1', 'OrderLineRemoved'],
      ['post', `/orders/${ORDER}/confirm?x=1`, 'OrderConfirmed'],
      ['post', '/ship', 'OrderShipped'],
      ['post', '/deliver', 'OrderDelivered'],
      ['post', '/cancel', 'OrderCancelled'],
    ] as const)
      assert.equal(eventTypeOfCommand(method, path), type, `${method} ${path}`);
  });

  it("names the catalogue's event of every command in it", () => {
    for (const type of COMMAND_TYPES) {
      const { method, event } = COMMAND_CATALOGUE[type];
      const path = commandPath(type, { id: ORDER, sku: 'BOOK-1' });
      assert.equal(eventTypeOfCommand(method === 'POST' ? 'post' : 'delete', path), event, type);
    }
  });

  it('refuses a request no command answers with an event', () => {
    for (const [method, path] of [
      ['delete', '/orders'],
      ['post', `/orders/${ORDER}/lines/BOOK-1`],
      ['delete', '/lines'],
      ['post', '/refund'],
      ['post', ''],
    ] as const)
      assert.throws(() => eventTypeOfCommand(method, path), /no order event is appended/, `${method} ${path}`);
  });
});
