import { AsyncResource } from 'node:async_hooks';

/** How commands share transactions (`COMMAND_GROUP_TRANSACTIONS`, `COMMAND_GROUP_MAX`). */
export interface GroupCommitOptions {
  /**
   * Shared transactions under way at once, at least 1. A command that finds them all busy waits,
   * and the next to start takes every command waiting: commands group only when more of them come
   * at once than this.
   */
  readonly transactions: number;
  /** The most commands one transaction takes, at least 1. */
  readonly maxCommands: number;
}

/** A command's work in a transaction, given the transaction's session. */
export type TransactionWork<Session> = (db: Session) => Promise<unknown>;

/** A work of a group, with its caller's async context (its trace), in which it must run. */
export interface GroupedWork<Session> {
  readonly work: TransactionWork<Session>;
  readonly inCallerScope: <T>(run: () => T) => T;
}

/** How a group runs: its works in one transaction, or one in a transaction of its own. */
export interface GroupTransactions<Session> {
  /**
   * Runs every work in one transaction, all at once, and commits only if every one succeeded;
   * their results in order. Rejects if any failed or the commit did: with CommitOutcomeUnknown when
   * the commit was sent and its answer lost (it may have committed), otherwise having committed
   * nothing.
   */
  together(works: readonly GroupedWork<Session>[]): Promise<unknown[]>;
  /** Runs a work in a transaction of its own (called in the work's caller's async context). */
  alone(work: TransactionWork<Session>): Promise<unknown>;
}

/**
 * A shared transaction's COMMIT was sent and no answer came back (the connection broke): it may
 * have committed. Its commands are not run again (a placement without an idempotency key would
 * then meet its own order), but answer this failure's `cause`, as a command alone would.
 */
export class CommitOutcomeUnknown extends Error {
  constructor(cause: unknown) {
    super('the outcome of a shared transaction is unknown: its commit got no answer', { cause });
    this.name = 'CommitOutcomeUnknown';
  }
}

interface Member<Session> {
  readonly work: TransactionWork<Session>;
  /** What no other command may hold while this one runs (an idempotency key). */
  readonly exclusive: string | undefined;
  /** The caller's async context (its trace), in which its work runs. */
  readonly scope: AsyncResource;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/**
 * Group commit for commands: while `transactions` shared transactions are under way, commands
 * wait, and the next transaction takes all that wait (up to `maxCommands`), so one BEGIN, one
 * COMMIT, one flush of the write-ahead log and a few round trips serve them all. A command that
 * arrives while a transaction is free starts at once, alone: nothing waits at low load.
 *
 * Shared fate, never shared effects: the group's transaction commits only if every command in it
 * succeeded. If any fails, nothing of the group was committed, and each command runs again in a
 * transaction of its own (as it would have without grouping), so a command's answer is always that
 * of its own run; if the commit's answer was lost (CommitOutcomeUnknown), each answers that failure.
 *
 * A command with an `exclusive` key waits while another with the same key runs, grouped or alone:
 * the duplicates of one request (a client's retries) never wait for each other inside a shared
 * transaction, holding up the others. Members start in the order of their keys.
 *
 * Groups run in the async context the GroupCommit was made in, not that of whichever request
 * started them: what a shared transaction does besides its commands' own work (connecting,
 * BEGIN, COMMIT) belongs to no one request's trace.
 */
export class GroupCommit<Session> {
  private waiting: Member<Session>[] = [];
  private running = 0;
  /** Keys of the commands that run now, grouped or alone. */
  private readonly keysInFlight = new Set<string>();
  private readonly home = new AsyncResource('GroupCommit');

  constructor(
    private readonly options: GroupCommitOptions,
    private readonly transactions: GroupTransactions<Session>,
  ) {
    for (const [name, value] of Object.entries(options))
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer of 1 or more`);
  }

  /** Runs `work` in a transaction it may share; settles with its own result. */
  submit<T>(work: (db: Session) => Promise<T>, exclusive: string | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        work,
        exclusive,
        scope: new AsyncResource('GroupCommit.submit'),
        resolve: (value) => {
          resolve(value as T);
        },
        reject,
      });
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.running < this.options.transactions) {
      const group = this.takeGroup();
      if (group.length === 0) return;
      this.running++;
      void this.home
        .runInAsyncScope(() => this.run(group))
        .finally(() => {
          this.running--;
          this.startGroups();
        });
    }
  }

  /** The longest-waiting members, up to `maxCommands`, none whose key is in flight, in key order. */
  private takeGroup(): Member<Session>[] {
    const group: Member<Session>[] = [];
    const left: Member<Session>[] = [];
    for (const member of this.waiting) {
      const { exclusive } = member;
      if (group.length >= this.options.maxCommands || (exclusive !== undefined && this.keysInFlight.has(exclusive))) {
        left.push(member);
        continue;
      }
      group.push(member);
      if (exclusive !== undefined) this.keysInFlight.add(exclusive);
    }
    this.waiting = left;
    return group.sort((a, b) => compareKeys(a.exclusive, b.exclusive));
  }

  /** Settles every member of the group; never rejects. */
  private async run(group: readonly Member<Session>[]): Promise<void> {
    const [only] = group;
    if (only && group.length === 1) {
      await this.runAlone(only);
      return;
    }
    try {
      const results = await this.transactions.together(
        group.map((member) => ({ work: member.work, inCallerScope: (run) => member.scope.runInAsyncScope(run) })),
      );
      group.forEach((member, index) => {
        this.settle(member, () => {
          member.resolve(results[index]);
        });
      });
      return;
    } catch (error) {
      if (error instanceof CommitOutcomeUnknown) {
        for (const member of group)
          this.settle(member, () => {
            member.reject(error.cause);
          });
        return;
      }
    }
    // Nothing of the group was committed: each runs again on its own, without holding the group's
    // place, so that other commands keep grouping meanwhile.
    for (const member of group) void this.runAlone(member);
  }

  /** Runs a member in a transaction of its own and settles it; never rejects. */
  private runAlone(member: Member<Session>): Promise<void> {
    return new Promise<unknown>((resolve) => {
      resolve(member.scope.runInAsyncScope(() => this.transactions.alone(member.work)));
    }).then(
      (value) => {
        this.settle(member, () => {
          member.resolve(value);
        });
      },
      (error: unknown) => {
        this.settle(member, () => {
          member.reject(error);
        });
      },
    );
  }

  /** Answers a member and lets a command waiting for its key go. */
  private settle(member: Member<Session>, answer: () => void): void {
    if (member.exclusive !== undefined) this.keysInFlight.delete(member.exclusive);
    answer();
    this.startGroups();
  }
}

/** Keys in one order, members without a key last. */
function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a < b ? -1 : 1;
}
