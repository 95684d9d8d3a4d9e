import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it } from 'node:test';

import { CommitOutcomeUnknown, GroupCommit, type GroupTransactions, type GroupedWork } from './group-commit.js';

/** A session of the fake transactions: which transaction a work ran in. */
interface Session {
  readonly transaction: number;
}

/**
 * Transactions that only record what ran together. A `together` transaction whose work throws fails
 * as a database would: nothing of it counts (`committed` lists only what committed).
 */
class FakeTransactions implements GroupTransactions<Session> {
  readonly committed: number[][] = [];
  /** How many transactions ran one command alone. */
  alones = 0;
  private next = 1;
  /** Settles the transactions under way, one call each, in the order they began. */
  private readonly holds: (() => void)[] = [];
  holding = false;
  /** The next shared commit's answer is lost after every work succeeded (it may have committed). */
  loseCommit = false;

  async together(works: readonly GroupedWork<Session>[]): Promise<unknown[]> {
    const session = { transaction: this.next++ };
    await this.hold();
    const settled = await Promise.allSettled(
      works.map(({ work, inCallerScope }) => inCallerScope(() => work(session))),
    );
    const values = settled.map((outcome) => {
      if (outcome.status === 'rejected') throw outcome.reason;
      return outcome.value;
    });
    if (this.loseCommit) throw new CommitOutcomeUnknown(new Error('Connection terminated unexpectedly'));
    this.record(values);
    return values;
  }

  async alone(work: (db: Session) => Promise<unknown>): Promise<unknown> {
    this.alones++;
    const session = { transaction: this.next++ };
    await this.hold();
    const value = await work(session);
    this.record([value]);
    return value;
  }

  /** Lets the oldest transaction under way finish. */
  release(): void {
    this.holds.shift()?.();
  }

  /** Lets the newest transaction under way finish. */
  releaseNewest(): void {
    this.holds.pop()?.();
  }

  get underWay(): number {
    return this.holds.length;
  }

  private hold(): Promise<void> {
    return this.holding ? new Promise((resolve) => this.holds.push(resolve)) : Promise.resolve();
  }

  private record(values: unknown[]): void {
    const numbers = values.filter((value): value is number => typeof value === 'number');
    this.committed.push(numbers);
  }
}

/** A work that answers its own number, and records in which transaction it ran. */
const numbered =
  (n: number, ranIn?: Map<number, number>) =>
  (db: Session): Promise<number> => {
    ranIn?.set(n, db.transaction);
    return Promise.resolve(n);
  };

/** Lets every promise continuation queued so far run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Lets the transactions finish one by one, as they come, until every answer is in. */
async function finish(transactions: FakeTransactions, answers: readonly Promise<unknown>[]): Promise<void> {
  const all = { done: false };
  void Promise.allSettled(answers).then(() => {
    all.done = true;
  });
  for (;;) {
    await settle();
    if (all.done) return;
    transactions.release();
  }
}

describe('GroupCommit', () => {
  it('starts a command at once, alone, while a transaction is free', async () => {
    const transactions = new FakeTransactions();
    const groups = new GroupCommit({ transactions: 2, maxCommands: 16 }, transactions);
    assert.equal(await groups.submit(numbered(1), undefined), 1);
    assert.equal(await groups.submit(numbered(2), undefined), 2);
    assert.deepEqual(transactions.committed, [[1], [2]]);
  });

  it('gives the commands that waited while every transaction was busy one transaction, each its own answer', async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 1, maxCommands: 16 }, transactions);
    const ranIn = new Map<number, number>();
    const answers = [1, 2, 3, 4].map((n) => groups.submit(numbered(n, ranIn), undefined));
    await settle();
    assert.equal(transactions.underWay, 1); // the first, alone; the others wait for it
    transactions.release();
    await settle();
    transactions.release();
    assert.deepEqual(await Promise.all(answers), [1, 2, 3, 4]);
    assert.deepEqual(transactions.committed, [[1], [2, 3, 4]]);
    assert.equal(new Set([ranIn.get(2), ranIn.get(3), ranIn.get(4)]).size, 1);
  });

  it('keeps a transaction to maxCommands and starts no more than `transactions` at once', async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 2, maxCommands: 3 }, transactions);
    const answers = Array.from({ length: 9 }, (_, n) => groups.submit(numbered(n), undefined));
    await settle();
    assert.equal(transactions.underWay, 2);
    await finish(transactions, answers);
    assert.deepEqual(transactions.committed, [[0], [1], [2, 3, 4], [5, 6, 7], [8]]);
  });

  it('never puts two commands with the same exclusive key in one transaction, and starts them in key order', async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 1, maxCommands: 16 }, transactions);
    const started: string[] = [];
    const keyed = (n: number, key: string) => (): Promise<number> => {
      started.push(key);
      return Promise.resolve(n);
    };
    const answers = [
      groups.submit(numbered(0), undefined),
      groups.submit(keyed(1, 'k-b'), 'k-b'),
      groups.submit(keyed(2, 'k-a'), 'k-a'),
      groups.submit(keyed(3, 'k-b'), 'k-b'),
      groups.submit(numbered(4), undefined),
    ];
    await finish(transactions, answers);
    assert.deepEqual(transactions.committed, [[0], [2, 1, 4], [3]]);
    assert.deepEqual(started, ['k-a', 'k-b', 'k-b']);
  });

  it('runs each command of a failed group again on its own, so each answers as it would have alone', async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 1, maxCommands: 16 }, transactions);
    const refused = new Error('a rule of the domain refused it');
    const answers = [
      groups.submit(numbered(1), undefined),
      groups.submit(numbered(2), undefined),
      groups.submit(() => Promise.reject(refused), undefined),
      groups.submit(numbered(4), undefined),
    ].map((answer) => answer.then(String, (error: unknown) => (error as Error).message));
    await finish(transactions, answers);
    assert.deepEqual(await Promise.all(answers), ['1', '2', refused.message, '4']);
    // The group of 2, 3 and 4 committed nothing; 2 and 4 committed alone, 3 failed alone too.
    assert.deepEqual(transactions.committed, [[1], [2], [4]]);
  });

  it("runs each command in its caller's async context, grouped or alone", async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 1, maxCommands: 16 }, transactions);
    const caller = new AsyncLocalStorage<string>();
    const seen = (): Promise<string | undefined> => Promise.resolve(caller.getStore());
    const answers = ['first', 'second', 'third'].map((name) => caller.run(name, () => groups.submit(seen, undefined)));
    await finish(transactions, answers);
    assert.deepEqual(await Promise.all(answers), ['first', 'second', 'third']);
  });

  it('holds a command while another with its key runs, even alone, and starts it once that one is answered', async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 2, maxCommands: 16 }, transactions);
    const events: string[] = [];
    const keyed = (name: string) => (): Promise<string> => {
      events.push(`${name} runs`);
      return Promise.resolve(name);
    };
    const answers = [
      groups.submit(keyed('first'), 'k'),
      groups.submit(keyed('retry'), 'k'),
      groups.submit(keyed('other'), undefined),
    ].map((answer) =>
      answer.then((name) => {
        events.push(`${name} answered`);
      }),
    );
    await settle();
    assert.equal(transactions.underWay, 2);
    // The second transaction holds the other command alone: the retry was passed over.
    transactions.releaseNewest();
    await settle();
    assert.deepEqual(events, ['other runs', 'other answered']);
    await finish(transactions, answers);
    assert.deepEqual(events.slice(2), ['first runs', 'first answered', 'retry runs', 'retry answered']);
  });

  it('answers every command of a group whose commit got no answer with that failure, and runs none again', async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 1, maxCommands: 16 }, transactions);
    const answers = [1, 2, 3].map((n) =>
      groups.submit(numbered(n), undefined).then(String, (error: unknown) => (error as Error).message),
    );
    transactions.loseCommit = true;
    await finish(transactions, answers);
    assert.deepEqual(await Promise.all(answers), [
      '1',
      'Connection terminated unexpectedly',
      'Connection terminated unexpectedly',
    ]);
    assert.equal(transactions.alones, 1); // the first, which ran alone before the others came
  });

  it("runs a failed group's commands again without holding its place, so that others keep grouping", async () => {
    const transactions = new FakeTransactions();
    transactions.holding = true;
    const groups = new GroupCommit({ transactions: 1, maxCommands: 16 }, transactions);
    const answers = [
      groups.submit(numbered(1), undefined),
      groups.submit(numbered(2), undefined),
      groups.submit(() => Promise.reject(new Error('refused')), undefined),
    ].map((answer) => answer.catch(() => 'refused'));
    await settle();
    transactions.release(); // the first, alone
    await settle();
    transactions.release(); // the group of 2 and the refused one: it fails, and each runs again alone
    await settle();
    answers.push(groups.submit(numbered(4), undefined), groups.submit(numbered(5), undefined));
    await settle();
    // The two reruns, and 4 in the free transaction (alone: it found the transaction free; 5 waits).
    assert.equal(transactions.underWay, 3);
    await finish(transactions, answers);
    assert.deepEqual(await Promise.all(answers), [1, 2, 'refused', 4, 5]);
  });

  it('refuses settings that would never start a transaction', () => {
    const transactions = new FakeTransactions();
    assert.throws(() => new GroupCommit({ transactions: 0, maxCommands: 16 }, transactions), /transactions must be/);
    assert.throws(() => new GroupCommit({ transactions: 2, maxCommands: 0 }, transactions), /maxCommands must be/);
    assert.throws(() => new GroupCommit({ transactions: 1.5, maxCommands: 2 }, transactions), /transactions must be/);
  });
});
