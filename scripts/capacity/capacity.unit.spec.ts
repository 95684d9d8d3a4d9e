import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { planCapacity, type MeasuredFigures, type Quantity } from './calculator.js';
import { CapacityUsageError, figuresFromBench, parseCapacityOptions } from './options.js';

/** Round figures, so that each expected value can be checked by hand. */
const FIGURES: MeasuredFigures = {
  source: 'test',
  consumePerSecond: 100_000,
  replayEventsPerSecond: 20_000,
  replayPartitionsAtOnce: 2,
  cpuMsPerEvent: { commandApi: 2, worker: 1.5, queryApi: 1, kafka: 0.5, postgres: 5 },
};

function plan(argv: readonly string[]): Map<string, Quantity> {
  const options = parseCapacityOptions(argv);
  assert.notEqual(options, 'help');
  if (options === 'help') throw new Error('unreachable');
  return new Map(
    planCapacity(options.target, FIGURES).sections.flatMap(({ quantities }) => quantities.map((q) => [q.name, q])),
  );
}

const value = (quantities: Map<string, Quantity>, name: string): number => {
  const quantity = quantities.get(name);
  assert.ok(quantity, `${name} is planned`);
  return quantity.value;
};

describe('the capacity calculator', () => {
  describe('given 1,000 orders/s of 3 events of 500 bytes, peak 2, 50 % headroom, replication 3, 7 days', () => {
    const q = plan([
      '--orders-per-second',
      '1000',
      '--events-per-order',
      '3',
      '--event-bytes',
      '500',
      '--retention-days',
      '7',
      '--replication',
      '3',
      '--peak',
      '2',
      '--projections',
      '4',
    ]);

    it('sizes for 9,000 events/s: average × peak × 1.5', () => {
      assert.equal(value(q, 'average events/s'), 3_000);
      assert.equal(value(q, 'design events/s'), 9_000);
      assert.equal(value(q, 'design bytes/s'), 4.5);
    });

    it('sizes the cluster by disk: 3,000 × 500 B × 86,400 × 7 × 3 × 1.5 = 4,082.4 GB, five 1 TB brokers', () => {
      assert.ok(Math.abs(value(q, 'disk, whole cluster') - 4_082.4) < 1e-6);
      assert.equal(value(q, 'network in, whole cluster'), 13.5);
      assert.equal(value(q, 'network out, whole cluster'), 27); // 4.5 × (3 − 1 + 4)
      assert.equal(value(q, 'broker cores'), 4.5);
      assert.equal(value(q, 'brokers'), 5);
    });

    it('takes partitions from the measured apply rate and the workers they must feed', () => {
      assert.equal(value(q, 'one partition, applied by one consumer'), 10_000); // min(100,000, 20,000 ÷ 2)
      assert.equal(value(q, 'worker cores'), 13.5);
      assert.equal(value(q, 'worker processes'), 14);
      assert.equal(value(q, 'partitions of orders.events'), 15); // max(⌈0.9⌉, 14), to a multiple of 5 brokers
    });

    it('sizes the HTTP apps and Postgres from their CPU per event', () => {
      assert.equal(value(q, 'command API processes'), 18);
      assert.equal(value(q, 'query API processes'), 3);
      assert.equal(value(q, 'Postgres cores'), 45);
      assert.equal(value(q, 'projection transactions, at most'), 36_000);
      assert.equal(value(q, 'connections, at most'), 18 * 11 + 14 * 18 + 3 * 10);
    });

    it('shows every formula with the numbers plugged in', () => {
      assert.equal(q.get('design events/s')?.workings, '3,000 × 2 × 1.5');
      for (const quantity of q.values()) assert.ok(quantity.formula.length > 0 && quantity.workings.length > 0);
    });
  });

  it('never plans fewer brokers than replicas, nor partitions below one per broker', () => {
    const q = plan(['--orders-per-second', '1', '--events-per-order', '1']);
    assert.equal(value(q, 'brokers'), 3);
    assert.equal(value(q, 'partitions of orders.events'), 3);
  });

  describe('a bad command line', () => {
    const refused = (argv: readonly string[], message: RegExp): void => {
      assert.throws(
        () => parseCapacityOptions(argv),
        (error: unknown) => {
          assert.ok(error instanceof CapacityUsageError);
          assert.match(error.message, message);
          return true;
        },
      );
    };

    it('names the flag that is missing, unknown, repeated, without a value or out of range', () => {
      refused([], /--orders-per-second is required/);
      refused(['--orders-per-second', '10', '--partitions', '3'], /unknown option "--partitions"/);
      refused(['--orders-per-second', '10', '--orders-per-second', '20'], /--orders-per-second is given twice/);
      refused(['--orders-per-second'], /--orders-per-second needs a value/);
      refused(['--orders-per-second', '--peak', '2'], /--orders-per-second needs a value/);
      refused(['--orders-per-second', 'many'], /--orders-per-second must be a number/);
      refused(['--orders-per-second', '10', '--replication', '2.5'], /--replication must be an integer from 1 to 10/);
      refused(['--orders-per-second', '10', '--peak', '0.5'], /--peak must be a number from 1/);
      refused(['--orders-per-second', '-5'], /--orders-per-second must be a number from 0.001/);
    });

    it('answers --help whatever else is given', () => {
      assert.equal(parseCapacityOptions(['--help']), 'help');
      assert.equal(parseCapacityOptions(['--peak', '2', '--help']), 'help');
    });

    it('refuses a results file without the figures, naming the field', () => {
      assert.throws(() => figuresFromBench({ ceilings: {} }, 'x.json'), /x\.json: ceilings\.consume_mps is missing/);
    });
  });
});
