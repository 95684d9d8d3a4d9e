import { AsyncResource } from 'node:async_hooks';

/** How commands share transactions (`COMMAND_GROUP_TRANSACTIONS`, `COMMAND_GROUP_MAX`). */
export interface GroupCommitOptions {
  /**
   * Shared transactions under way at once. A command that finds them all busy waits, and the next
   * to start takes every command waiting. Below the command API's concurrency, commands group.
   */
  readonly transactions: number;
  /** The most commands one transaction takes. */
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
   * their results in order. Rejects, having committed nothing, if any failed or the commit did.
   */
  together(works: readonly GroupedWork<Session>[]): Promise<unknown[]>;
  /** Runs a work in a transaction of its own (called in the work's caller's async context). */
  alone(work: TransactionWork<Session>): Promise<unknown>;
}

interface Member<Session> {
  readonly work: TransactionWork<Session>;
  /** What no other member of the same transaction may hold (an idempotency key). */
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
 * succeeded. If any fails, or the commit does, nothing of the group was committed, and each command
 * runs again in a transaction of its own (as it would have without grouping), so a command's
 * answer is always that of its own run. Members are started in the order of their `exclusive`
 * keys, so the locks they take on them are taken in one order by every transaction: two groups
 * never wait for each other in a cycle.
 */
export class GroupCommit<Session> {
  private waiting: Member<Session>[] = [];
  private running = 0;

  constructor(
    private readonly options: GroupCommitOptions,
    private readonly transactions: GroupTransactions<Session>,
  ) {}

  /** Runs `work` in a transaction it may share; settles with its own result. */
  submit<T>(work: (db: Session) => Promise<T>, exclusive: string | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        work,
        exclusive,
        scope: new AsyncResource('GroupCommit'),
        resolve: (value) => {
          resolve(value as T);
        },
        reject,
      });
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.running < this.options.transactions && this.waiting.length > 0) {
      const group = this.takeGroup();
      this.running++;
      void this.run(group).finally(() => {
        this.running--;
        this.startGroups();
      });
    }
  }

  /** The longest-waiting members, up to `maxCommands`, no two with the same exclusive key. */
  private takeGroup(): Member<Session>[] {
    const group: Member<Session>[] = [];
    const held = new Set<string>();
    const left: Member<Session>[] = [];
    for (const member of this.waiting) {
      const clashes = member.exclusive !== undefined && held.has(member.exclusive);
      if (group.length >= this.options.maxCommands || clashes) {
        left.push(member);
        continue;
      }
      group.push(member);
      if (member.exclusive !== undefined) held.add(member.exclusive);
    }
    this.waiting = left;
    return group.sort((a, b) => compareKeys(a.exclusive, b.exclusive));
  }

  private async run(group: readonly Member<Session>[]): Promise<void> {
    if (group.length > 1) {
      try {
        const results = await this.transactions.together(
          group.map((member) => ({
            work: member.work,
            inCallerScope: (run) => member.scope.runInAsyncScope(run),
          })),
        );
        group.forEach((member, index) => {
          member.resolve(results[index]);
        });
        return;
      } catch {
        // Nothing of the group was committed: each runs again on its own, below.
      }
    }
    await Promise.all(
      group.map((member) =>
        member.scope.runInAsyncScope(() => this.transactions.alone(member.work)).then(member.resolve, member.reject),
      ),
    );
  }
}

/** Keys in one order, members without a key last. */
function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a < b ? -1 : 1;
}
