import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { BenchUsageError, parseBenchOptions, type BenchOptions } from './options.js';

function parse(argv: readonly string[]): BenchOptions {
  const options = parseBenchOptions(argv);
  if (options === 'help') throw new Error('expected options, got help');
  return options;
}

describe('the relays side by side in the bench options', () => {
  it('are on by default, smaller with --quick, and never shorter than 5 s', () => {
    assert.deepEqual(parse([]).relays, { rate: 100, seconds: 20, burst: 5_000 });
    assert.deepEqual(parse(['--quick']).relays, { rate: 50, seconds: 5, burst: 1_000 });
    assert.deepEqual(parse(['--relay-rate', '80', '--duration', '30']).relays, { rate: 80, seconds: 30, burst: 5_000 });
  });

  it('are skipped with --no-relays', () => {
    assert.equal(parse(['--quick', '--no-relays']).relays, undefined);
  });

  it('refuse a rate that is not a positive integer, and a rate for a comparison that is skipped', () => {
    for (const rate of ['0', 'x', '1.5', '10001'])
      assert.throws(() => parse(['--relay-rate', rate]), BenchUsageError, rate);
    assert.throws(() => parse(['--relay-rate']), /--relay-rate needs a value/);
    assert.throws(() => parse(['--no-relays', '--relay-rate', '50']), /which --no-relays skips/);
    assert.throws(() => parse(['--relays']), /unknown option "--relays"/);
  });
});
