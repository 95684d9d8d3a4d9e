import type { StoredEvent } from './fold.js';

/**
 * What verification needs of a database connection: one query at a time, rows back. A TypeORM
 * query runner or entity manager is one; so is a pg client through `pgSql`.
 */
export interface Sql {
  query<Row = Record<string, unknown>>(text: string, parameters?: readonly unknown[]): Promise<Row[]>;
}

/**
 * Where verification reads: the event store, and the read side (read models, side tables and
 * bookkeeping). Two databases when `READ_DATABASE_URL` names its own, so no query joins the two:
 * each reads one side and the comparison happens here. One Sql for both when they are one database.
 */
export interface VerifySources {
  readonly store: Sql;
  readonly read: Sql;
}

/** A pg client or pool as Sql (libs/testing, scripts). */
export function pgSql(client: { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> }): Sql {
  return {
    async query<Row>(text: string, parameters: readonly unknown[] = []): Promise<Row[]> {
      return (await client.query(text, [...parameters])).rows as Row[];
    },
  };
}

/** A timestamptz as text, UTC, with microseconds: both sides of a comparison format times so. */
export const timestampText = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * A jsonb array of lines with quantity and unitPriceMinor as text, every other key kept: the pg
 * driver parses jsonb with JSON.parse, which rounds numbers past 2^53.
 */
export const exactLinesSql = (column: string): string =>
  `(SELECT coalesce(jsonb_agg(x.l || jsonb_build_object('quantity', x.l->>'quantity', 'unitPriceMinor', x.l->>'unitPriceMinor') ORDER BY x.i), '[]'::jsonb)
      FROM jsonb_array_elements(CASE jsonb_typeof(${column}) WHEN 'array' THEN ${column} ELSE '[]'::jsonb END) WITH ORDINALITY AS x(l, i))`;

/** A jsonb object of amounts as an object of their decimal text (see exactLinesSql). */
export const exactAmountsSql = (column: string): string =>
  `(SELECT coalesce(jsonb_object_agg(t.k, t.v #>> '{}'), '{}'::jsonb) FROM jsonb_each(CASE jsonb_typeof(${column}) WHEN 'object' THEN ${column} ELSE '{}'::jsonb END) AS t(k, v))`;

const EVENT_COLUMNS = `e.event_id::text AS "eventId", e.order_id::text AS "orderId", e.version, e.type,
  e.schema_version AS "schemaVersion", e.data,
  CASE e.type WHEN 'OrderPlaced' THEN ${exactLinesSql("e.data->'lines'")}
              WHEN 'OrderLineAdded' THEN ${exactLinesSql("jsonb_build_array(e.data->'line')")} END AS lines,
  ${timestampText('e.occurred_at')} AS at`;

/**
 * The store, one page of whole orders at a time, in order id order (keyset on the events' unique
 * (order_id, version) index): memory holds one page, whatever the store's size.
 */
export async function* eventPages(sql: Sql, pageSize: number): AsyncGenerator<StoredEvent[][]> {
  let after: string | null = null;
  for (;;) {
    const rows: StoredEvent[] = await sql.query<StoredEvent>(
      `SELECT ${EVENT_COLUMNS} FROM events e
        WHERE ($1::uuid IS NULL OR e.order_id > $1::uuid) ORDER BY e.order_id, e.version LIMIT $2`,
      [after, pageSize],
    );
    if (rows.length === 0) return;
    const orders = groupByOrder(rows);
    // The page's last order may go on past the limit: read it whole on its own.
    if (rows.length === pageSize) {
      const last = orders.pop() ?? [];
      const lastId = last[0]?.orderId ?? '';
      if (orders.length === 0) orders.push(await eventsOf(sql, lastId));
      after = orders.at(-1)?.[0]?.orderId ?? lastId;
    } else {
      after = null;
    }
    yield orders;
    if (after === null) return;
  }
}

/** Every event of the given orders, grouped per order in version order. */
export async function eventsOfOrders(sql: Sql, orderIds: readonly string[]): Promise<StoredEvent[][]> {
  if (orderIds.length === 0) return [];
  const rows = await sql.query<StoredEvent>(
    `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.order_id = ANY($1::uuid[]) ORDER BY e.order_id, e.version`,
    [orderIds],
  );
  return groupByOrder(rows);
}

async function eventsOf(sql: Sql, orderId: string): Promise<StoredEvent[]> {
  return (await eventsOfOrders(sql, [orderId]))[0] ?? [];
}

function groupByOrder(rows: readonly StoredEvent[]): StoredEvent[][] {
  const orders: StoredEvent[][] = [];
  for (const row of rows) {
    const current = orders.at(-1);
    if (current?.[0]?.orderId === row.orderId) current.push(row);
    else orders.push([row]);
  }
  return orders;
}

/** Keys and values of JSON objects in one canonical text: sorted keys, so equal data compares equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(
          Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : item,
  );
}
