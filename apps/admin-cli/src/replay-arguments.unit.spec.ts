import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UsageError, parseReplayArguments } from './replay-arguments.js';

const known = ['order-view', 'customer-summary', 'sales'];
const orderId = '0b7e0c5e-6a43-4f6e-9d0c-2f1c9f3f8a11';

describe('replay command line', () => {
  it('takes one projection, or --all for every one', () => {
    assert.deepEqual(parseReplayArguments(['sales'], known), {
      kind: 'rebuild',
      projections: ['sales'],
      dryRun: false,
    });
    assert.deepEqual(parseReplayArguments(['--all', '--dry-run'], known), {
      kind: 'rebuild',
      projections: known,
      dryRun: true,
    });
  });

  it('takes --order with an order id, as a separate or an = argument', () => {
    assert.deepEqual(parseReplayArguments(['order-view', '--order', orderId], known), {
      kind: 'order',
      projections: ['order-view'],
      orderId,
      all: false,
      dryRun: false,
    });
    assert.deepEqual(parseReplayArguments(['--all', `--order=${orderId.toUpperCase()}`], known), {
      kind: 'order',
      projections: known,
      orderId,
      all: true,
      dryRun: false,
    });
  });

  it('answers --help before looking at anything else', () => {
    assert.deepEqual(parseReplayArguments(['nope', '--help'], known), { kind: 'help' });
  });

  const refusals: [string, string[], RegExp][] = [
    [
      'an unknown projection, listing the known ones',
      ['nope'],
      /unknown projection "nope"; known projections: order-view, customer-summary, sales/,
    ],
    ['no projection at all', [], /name a projection or give --all/],
    ['--all with names', ['--all', 'sales'], /either --all or projection names/],
    ['an unknown option', ['sales', '--fast'], /unknown option "--fast"/],
    ['--order without an id', ['sales', '--order'], /--order needs an order id/],
    ['--order with something else than an id', ['sales', '--order', "1'; DROP TABLE events; --"], /is not an order id/],
    ['--order twice', ['sales', '--order', orderId, '--order', orderId], /--order given twice/],
  ];
  for (const [what, args, message] of refusals) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => parseReplayArguments(args, known),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
      );
    });
  }
});
