/**
 * One disagreement between what the event store says and what a read model, a side table, the
 * bookkeeping or a topic holds. `expected` is the fold's value, `found` the stored one; null where
 * a row is missing on that side.
 */
export interface Difference {
  readonly projection: string;
  readonly table: string;
  readonly key: string;
  readonly field: string;
  readonly expected: string | null;
  readonly found: string | null;
}

/**
 * How the disagreements read, judged from the fold alone (never from the projections' own
 * counters): an effect applied twice is a stored value past the fold's by exactly one event's
 * effect (or a counter past it by whole events); a lost one falls short the same way.
 */
export interface VerificationFigures {
  orders: number;
  events: number;
  customers: number;
  buckets: number;
  differences: number;
  appliedTwice: number;
  lost: number;
  parked: number;
  /** Topic figures; zero when the topic was not read. */
  topicRecords: number;
  duplicatesOnTopic: number;
  /** Stored events not found on the topic. */
  missingOnTopic: number;
  foreignOnTopic: number;
  /** Foreign records the projections already parked or an operator decided on: known, reported as info. */
  knownForeignOnTopic: number;
  deadLetters: number;
}

export const emptyFigures = (): VerificationFigures => ({
  orders: 0,
  events: 0,
  customers: 0,
  buckets: 0,
  differences: 0,
  appliedTwice: 0,
  lost: 0,
  parked: 0,
  topicRecords: 0,
  duplicatesOnTopic: 0,
  missingOnTopic: 0,
  foreignOnTopic: 0,
  knownForeignOnTopic: 0,
  deadLetters: 0,
});

/** Where differences go as they are found: counted always, kept up to a limit, each handed to `onDifference`. */
export class DifferenceLog {
  readonly figures = emptyFigures();
  readonly kept: Difference[] = [];

  constructor(
    private readonly keep: number,
    private readonly onDifference: (difference: Difference) => void = () => undefined,
  ) {}

  add(difference: Difference): void {
    this.figures.differences++;
    if (this.kept.length < this.keep) this.kept.push(difference);
    this.onDifference(difference);
  }

  /** Rows past a listing limit: one difference that says how many more there are, each counted. */
  unlisted(projection: string, table: string, more: number): void {
    if (more <= 0) return;
    this.add({
      projection,
      table,
      key: '…',
      field: 'rows not listed',
      expected: null,
      found: `${String(more)} more like the above`,
    });
    this.figures.differences += more - 1;
  }

  /** Compares one field; adds a difference when the text of the two sides differs. */
  field(
    projection: string,
    table: string,
    key: string,
    field: string,
    expected: string | null,
    found: string | null,
  ): boolean {
    if (expected === found) return true;
    this.add({ projection, table, key, field, expected, found });
    return false;
  }
}

/** A difference as one line for people: projection, table, key, field, expected, found. */
export function formatDifference(d: Difference): string {
  const show = (value: string | null): string => (value === null ? '(none)' : value);
  return `${d.projection} ${d.table} ${d.key} ${d.field}: expected ${show(d.expected)}, found ${show(d.found)}`;
}
