import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';

import type { DataSource, EntityManager } from 'typeorm';

import { ORDER_EVENTS, type DomainEvent, type EventEnvelope } from '@app/messaging';
import { quoteIdentifier as quote } from '@app/platform';
import { liveGeneration, type Projection } from '@app/projections';
import type { OrderEventType } from '@app/orders-domain';

/** A row as `then` reads it: timestamps as ISO strings, numeric and bigint columns as decimal text. */
export type Row = Readonly<Record<string, unknown>>;
/** Column = value for each entry; an array value means any of its values. */
export type RowFilter = Readonly<Record<string, unknown>>;
export type ReadTable = (table: string, where?: RowFilter) => Promise<Row[]>;
/** What `thenThrows` accepts, as `assert.rejects` does: an error class, a RegExp, an object to match, a predicate. */
export type ErrorMatcher = assert.AssertPredicate;

const FIRST_EVENT_AT = Date.parse('2026-01-01T00:00:00.000Z');

/** The schema version the system writes `type` with today; 1 for a type it does not know (a neighbour's). */
export function currentSchemaVersionOf(type: string): number {
  return ORDER_EVENTS.knows(type) ? ORDER_EVENTS.currentVersion(type as OrderEventType) : 1;
}

/** One stored event as a projection receives it. The default time puts versions a minute apart. */
export function envelopeOf<E extends DomainEvent>(
  streamId: string,
  version: number,
  event: E,
  occurredAt = new Date(FIRST_EVENT_AT + (version - 1) * 60_000).toISOString(),
): EventEnvelope<E> {
  return {
    ...event,
    eventId: randomUUID(),
    schemaVersion: currentSchemaVersionOf(event.type),
    streamId,
    version,
    occurredAt,
  };
}

export interface TestStream {
  readonly id: string;
  /** The stream's next event: versions count up from 1, times a minute apart from `startAt`. */
  next<E extends DomainEvent>(event: E, occurredAt?: string): EventEnvelope<E>;
}

/** A stream of its own (a random id unless given), so that tests sharing one database never meet. */
export function testStream(id: string = randomUUID(), { startAt = FIRST_EVENT_AT } = {}): TestStream {
  let version = 0;
  return {
    id,
    next(event, occurredAt) {
      version++;
      return envelopeOf(id, version, event, occurredAt ?? new Date(startAt + (version - 1) * 60_000).toISOString());
    },
  };
}

export interface ProjectionSpecificationOptions {
  /** A migrated database of the test file's own (createTestEnvironment). */
  readonly database: DataSource;
  /** The column that holds the stream id in the projection's per-stream tables: `then` reads the scenario's rows by it. */
  readonly streamColumn?: string;
}

/**
 * Given/when/then for a projection on real Postgres, the way the runner calls it: a transaction
 * pointed at the live generation, `apply` with only the events the projection handles (without the
 * runner's sequencing, offsets or parking, which its own tests cover). `then` reads
 * the public views readers use, then checks redelivery: the scenario's events applied once more
 * must change no row of the projection's tables. It compares whole tables, so the tests of one file
 * run one after another (node's default within a file).
 */
export class ProjectionSpecification {
  private constructor(
    private readonly projection: Projection,
    private readonly options: ProjectionSpecificationOptions,
  ) {}

  static for(projection: Projection, options: ProjectionSpecificationOptions): ProjectionSpecification {
    return new ProjectionSpecification(projection, options);
  }

  given(...history: readonly EventEnvelope[]): { when(...events: readonly EventEnvelope[]): ProjectionScenario } {
    return { when: (...events) => new ProjectionScenario(this.projection, this.options, history, events) };
  }

  when(...events: readonly EventEnvelope[]): ProjectionScenario {
    return new ProjectionScenario(this.projection, this.options, [], events);
  }
}

export class ProjectionScenario {
  private applied: Promise<void> | undefined;

  constructor(
    private readonly projection: Projection,
    private readonly options: ProjectionSpecificationOptions,
    private readonly history: readonly EventEnvelope[],
    private readonly events: readonly EventEnvelope[],
  ) {}

  /** Expects exactly these rows (only the columns named are compared, in any order) among the scenario's. */
  then(table: string, expected: readonly Row[] | ((rows: Row[]) => unknown), where?: RowFilter): Promise<void>;
  /** Hands over a reader of the public views, for checks that span tables. */
  then(check: (read: ReadTable) => unknown): Promise<void>;
  async then(
    tableOrCheck: string | ((read: ReadTable) => unknown),
    expected?: readonly Row[] | ((rows: Row[]) => unknown),
    where?: RowFilter,
  ): Promise<void> {
    await this.applyOnce();
    if (typeof tableOrCheck === 'function') {
      await tableOrCheck((table, filter) => this.read(table, filter));
    } else {
      const rows = await this.read(tableOrCheck, where);
      if (typeof expected === 'function') await expected(rows);
      else assertRows(tableOrCheck, rows, expected ?? []);
    }
    await this.assertRedeliveryChangesNothing();
  }

  /** The history applies; the events fail as `matcher` says (their transaction rolls back). */
  async thenThrows(matcher?: ErrorMatcher): Promise<void> {
    await this.applyBatch(this.history);
    const failing = this.applyBatch(this.events);
    await (matcher === undefined ? assert.rejects(failing) : assert.rejects(failing, matcher));
  }

  private applyOnce(): Promise<void> {
    // Two batches: the events of `when` arrive after the history was committed.
    this.applied ??= this.applyBatch(this.history).then(() => this.applyBatch(this.events));
    return this.applied;
  }

  private async applyBatch(events: readonly EventEnvelope[]): Promise<void> {
    const handled = this.handled(events);
    if (handled.length === 0) return; // the runner does not call apply without an event it handles
    await this.options.database.transaction(async (db) => {
      await liveGeneration(this.projection.name).enter(db);
      // As the runner reads ahead: from a batch's record keys, which may name no stream of this table.
      const keys = [...new Set(handled.map((event) => event.streamId)), 'not a stream id', "o'brien"];
      await this.projection.apply(db, handled, this.projection.prefetch?.(db, keys));
    });
  }

  private handled(events: readonly EventEnvelope[]): EventEnvelope[] {
    const handles = new Set<string>(this.projection.handles);
    return events.filter((event) => handles.has(event.type));
  }

  /**
   * Applies every event of the scenario again and compares whole tables, then rolls back: a
   * projection that fails this must not leave its doubled rows to the next test.
   */
  private async assertRedeliveryChangesNothing(): Promise<void> {
    const runner = this.options.database.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const db = runner.manager;
      await liveGeneration(this.projection.name).enter(db);
      const before = await this.snapshot(db);
      const handled = this.handled([...this.history, ...this.events]);
      if (handled.length > 0) await this.projection.apply(db, handled);
      const after = await this.snapshot(db);
      for (const table of Object.keys(before)) {
        const [was, is] = [before[table] ?? [], after[table] ?? []];
        if (isDeepStrictEqual(was, is)) continue;
        const isSet = new Set(is);
        const wasSet = new Set(was);
        assert.fail(
          `${this.projection.name}: applying the same events again changed ${table}\n` +
            `  rows before: ${was.filter((row) => !isSet.has(row)).join('\n               ')}\n` +
            `  rows after:  ${is.filter((row) => !wasSet.has(row)).join('\n               ')}`,
        );
      }
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  }

  /** Every row of every table of the projection, as sorted JSON text. */
  private async snapshot(db: EntityManager): Promise<Record<string, string[]>> {
    const snapshot: Record<string, string[]> = {};
    for (const table of this.projection.tables) {
      const rows: { row: string }[] = await db.query(
        `SELECT to_jsonb(t)::text AS row FROM ${quote(table)} t ORDER BY 1`,
      );
      snapshot[table] = rows.map(({ row }) => row);
    }
    return snapshot;
  }

  /** Rows of a public view: those matching `where`, else the scenario's streams' rows. */
  private async read(table: string, where?: RowFilter): Promise<Row[]> {
    const db = this.options.database;
    const filter = where ?? (await this.streamFilter(table));
    const columns = Object.keys(filter);
    const conditions = columns.map((column, index) =>
      Array.isArray(filter[column]) ? `${quote(column)} = ANY($${index + 1})` : `${quote(column)} = $${index + 1}`,
    );
    const rows: Record<string, unknown>[] = await db.query(
      `SELECT * FROM public.${quote(table)}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`,
      columns.map((column) => filter[column]),
    );
    return rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([column, value]) => [column, value instanceof Date ? value.toISOString() : value]),
      ),
    );
  }

  private async streamFilter(table: string): Promise<RowFilter> {
    const column = this.options.streamColumn ?? 'order_id';
    const found: unknown[] = await this.options.database.query(
      `SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2`,
      [table, column],
    );
    if (found.length === 0)
      throw new Error(
        `${table} has no ${column} column to find this scenario's rows by: pass a filter (then(table, rows, { column: value }))`,
      );
    return { [column]: [...new Set([...this.history, ...this.events].map((event) => event.streamId))] };
  }
}

/** `actual` cut down to what `expected` names: the columns of a row, the keys of a body, however deep. */
export function shapedLike(actual: unknown, expected: unknown): unknown {
  if (expected instanceof RegExp) return typeof actual === 'string' && expected.test(actual) ? expected : actual;
  if (Array.isArray(expected) && Array.isArray(actual))
    return actual.map((item: unknown, index) => (index < expected.length ? shapedLike(item, expected[index]) : item));
  if (isPlainObject(expected) && isPlainObject(actual)) {
    return Object.fromEntries(
      Object.keys(expected)
        .filter((key) => key in actual)
        .map((key) => [key, shapedLike(actual[key], expected[key])]),
    );
  }
  return actual;
}

/** Pairs each expected row with a row of the same values, in any order; on a mismatch shows the diff. */
function assertRows(table: string, actual: readonly Row[], expected: readonly Row[]): void {
  const unmatched = [...actual];
  const paired: unknown[] = [];
  const missing: Row[] = [];
  for (const row of expected) {
    const index = unmatched.findIndex((candidate) => isDeepStrictEqual(shapedLike(candidate, row), row));
    if (index === -1) {
      missing.push(row);
      continue;
    }
    paired.push(shapedLike(unmatched.splice(index, 1)[0], row));
  }
  if (missing.length === 0 && unmatched.length === 0) return;
  // Leftover rows shown against the expected rows nobody matched, cut to their columns for a readable diff.
  const leftovers = unmatched.map((row, index) => (index < missing.length ? shapedLike(row, missing[index]) : row));
  assert.deepEqual([...paired, ...leftovers], [...expected.filter((row) => !missing.includes(row)), ...missing], table);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
