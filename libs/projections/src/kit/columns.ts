import type { EntityManager } from 'typeorm';

/**
 * The column types a projection table may use, as the kit reads and writes them: every value travels
 * as JSON (`jsonb_populate_recordset`), amounts as decimal text so that none is rounded.
 */
export type ColumnType = 'text' | 'uuid' | 'integer' | 'numeric' | 'boolean' | 'timestamptz' | 'jsonb';

/** One entry per field of the row: the compiler keeps a table's column list complete. */
export type Columns<Row> = { readonly [Field in keyof Row]-?: ColumnType };

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Table and column names are written into SQL, so they are checked when a projection is defined. */
export function assertIdentifiers(names: readonly string[]): void {
  for (const name of names) {
    if (!IDENTIFIER.test(name)) throw new Error(`${name} is not a plain lower-case SQL identifier`);
  }
}

/**
 * The select list that reads a row back exactly as the kit wrote it: numerics as decimal text (the
 * driver would round them past 2^53) and times as the ISO text `Date.toISOString` gives (the driver
 * would make them Dates), so a time read back equals one made from an event: as a key of an
 * aggregate row, two spellings of one instant would be two keys in one upsert, which Postgres refuses.
 */
export function selectList(columns: Readonly<Record<string, ColumnType>>): string {
  return Object.entries(columns)
    .map(([column, type]) => {
      if (type === 'numeric') return `${column}::text AS ${column}`;
      if (type === 'timestamptz') {
        return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;
      }
      return column;
    })
    .join(', ');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether text is a uuid in the hyphenated form, in either case: what a `uuid` key column takes from us. */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/**
 * A value as Postgres would compare it, in one spelling: a uuid in lower case, a time as
 * `toISOString` gives it, a numeric as decimal text. Two spellings of one key in one upsert would be
 * two rows for ON CONFLICT, which Postgres refuses (21000); two spellings of one stream id would be
 * two streams for the version guard.
 */
export function canonical(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (type === 'uuid' && typeof value === 'string') return value.toLowerCase();
  if (type === 'timestamptz' && (typeof value === 'string' || value instanceof Date)) {
    const time = new Date(value);
    return Number.isNaN(time.getTime()) ? value : time.toISOString();
  }
  if (type === 'numeric' && (typeof value === 'number' || typeof value === 'bigint')) return value.toString();
  return value;
}

/**
 * JSON for SQL: BigInt amounts become decimal strings, which Postgres reads into numeric columns
 * exactly. JSON.stringify alone throws on them.
 */
export function toSqlJson(value: unknown): string {
  // Without a replacer first: calling one for every value costs more than a retry, and a value with
  // amounts (aggregate deltas) throws at its first one, early.
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}

export type Db = Pick<EntityManager, 'query'>;
