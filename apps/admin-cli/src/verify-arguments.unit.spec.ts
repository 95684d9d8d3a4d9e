import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UsageError, parseVerifyArguments } from './verify-arguments.js';

const KNOWN = ['order-view', 'customer-summary', 'sales'];

describe('parseVerifyArguments', () => {
  it('checks every projection and the topics by default', () => {
    assert.deepEqual(parseVerifyArguments([], KNOWN), {
      kind: 'verify',
      projections: KNOWN,
      topics: true,
      printLimit: 1_000,
      json: false,
      queryApi: null,
    });
  });

  it('narrows to the projections named, each once, in both spellings', () => {
    const request = parseVerifyArguments(
      ['--projection', 'sales', '--projection=order-view', '--projection', 'sales'],
      KNOWN,
    );
    assert.deepEqual(request.kind === 'verify' && request.projections, ['sales', 'order-view']);
  });

  it('reads the other options', () => {
    const request = parseVerifyArguments(
      ['--skip-topics', '--limit-differences', '0', '--json', '--query-api', 'http://127.0.0.1:3001'],
      KNOWN,
    );
    assert.deepEqual(request, {
      kind: 'verify',
      projections: KNOWN,
      topics: false,
      printLimit: 0,
      json: true,
      queryApi: 'http://127.0.0.1:3001',
    });
    assert.deepEqual(parseVerifyArguments(['--projection', 'nope', '--help'], KNOWN), { kind: 'help' });
  });

  for (const [args, message] of [
    [['--bogus'], /unknown option "--bogus"/],
    [['sales'], /unexpected argument "sales"/],
    [['--projection'], /--projection needs a value/],
    [['--projection', '--json'], /--projection needs a value/],
    [['--projection', 'nope'], /unknown projection "nope"; known projections: order-view, customer-summary, sales/],
    [['--limit-differences', '-1'], /is not a whole number/],
    [['--limit-differences', '1e3'], /is not a whole number/],
    [['--limit-differences', '5', '--limit-differences', '6'], /given twice/],
    [['--query-api', 'ftp://host'], /is not an http\(s\) URL/],
  ] as const) {
    it(`refuses ${args.join(' ')}`, () => {
      assert.throws(
        () => parseVerifyArguments(args, KNOWN),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
      );
    });
  }
});
