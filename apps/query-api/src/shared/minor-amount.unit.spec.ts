import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { toMinorAmount } from './minor-amount.js';

describe('amounts in query API answers', () => {
  it('are JSON numbers while they are safe integers', () => {
    assert.equal(toMinorAmount('0'), 0);
    assert.equal(toMinorAmount('2500'), 2500);
    assert.equal(toMinorAmount(9_007_199_254_740_991n), Number.MAX_SAFE_INTEGER);
    assert.equal(toMinorAmount('-9007199254740991'), -Number.MAX_SAFE_INTEGER);
  });

  it('are strings of every digit from 2^53 on, where a number would round', () => {
    assert.equal(toMinorAmount('9007199254740992'), '9007199254740992');
    assert.equal(toMinorAmount('9007199254740993'), '9007199254740993');
    assert.equal(toMinorAmount(2n ** 64n * 3n + 1n), '55340232221128654849');
    assert.equal(toMinorAmount('-9007199254740993'), '-9007199254740993');
    assert.equal(
      JSON.stringify({ total: toMinorAmount('100000000000000000000000') }),
      '{"total":"100000000000000000000000"}',
    );
  });
});
