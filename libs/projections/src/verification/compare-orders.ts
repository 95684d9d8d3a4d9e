import type { DifferenceLog } from './difference.js';
import { countEffects, totalOfLines, type ExactLine, type ExpectedOrderView, type FoldedOrder } from './fold.js';
import { tableOf, type Scope, type VerifiedProjection } from './scope.js';
import { canonicalJson, exactLinesSql, timestampText, type Sql, type VerifySources } from './sql.js';

type Row = Record<string, unknown>;

/** Every column of order_view, as the fold has it: a new column fails typecheck here until it is read. */
const orderViewColumns = {
  order_id: 'order_id::text',
  customer_id: 'customer_id',
  status: 'status',
  currency: 'currency::text',
  lines: exactLinesSql('lines'),
  total_minor: 'total_minor::text',
  version: 'version',
  placed_at: timestampText('placed_at'),
  confirmed_at: timestampText('confirmed_at'),
  shipped_at: timestampText('shipped_at'),
  delivered_at: timestampText('delivered_at'),
  cancelled_at: timestampText('cancelled_at'),
  updated_at: timestampText('updated_at'),
  payment_reference: 'payment_reference',
  carrier: 'carrier',
  tracking_number: 'tracking_number',
  cancel_reason: 'cancel_reason',
  returned_at: timestampText('returned_at'),
  return_reason: 'return_reason',
  channel: 'channel',
  applied_events: 'applied_events',
} satisfies Record<keyof ExpectedOrderView, string>;

const ORDER_VIEW_COLUMNS = Object.entries(orderViewColumns)
  .map(([column, expression]) => `${expression} AS ${column}`)
  .join(', ');

const asText = (value: unknown): string | null => {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return canonicalJson(value);
};

const amount = (value: unknown): bigint | null => {
  try {
    return BigInt(String(value));
  } catch {
    return null;
  }
};

/**
 * Compares one page of folded orders with the per-order rows of every checked projection: the
 * order view (every column), the side tables, and the versions that decide what counts as a
 * duplicate next.
 */
export async function compareOrderPage(
  sql: Sql,
  scope: Scope,
  folded: ReadonlyMap<string, FoldedOrder>,
  log: DifferenceLog,
): Promise<void> {
  const ids = [...folded.keys()];
  for (const projection of scope.projections) {
    if (projection === 'order-view') await compareOrderViews(sql, scope, folded, ids, log);
    if (projection === 'customer-summary') await compareCustomerOrders(sql, scope, folded, ids, log);
    if (projection === 'sales') await compareSalesOrders(sql, scope, folded, ids, log);
    await compareVersions(sql, scope, projection, folded, ids, log);
  }
}

async function rowsOf(sql: Sql, table: string, columns: string, ids: readonly string[]): Promise<Map<string, Row>> {
  const rows = await sql.query<Row>(`SELECT ${columns} FROM ${table} WHERE order_id = ANY($1::uuid[])`, [ids]);
  return new Map(rows.map((row) => [String(row.order_id), row]));
}

async function compareOrderViews(
  sql: Sql,
  scope: Scope,
  folded: ReadonlyMap<string, FoldedOrder>,
  ids: readonly string[],
  log: DifferenceLog,
): Promise<void> {
  const found = await rowsOf(sql, tableOf(scope, 'order-view', 'order_view'), ORDER_VIEW_COLUMNS, ids);
  for (const [orderId, order] of folded) {
    const row = found.get(orderId);
    if (!row) {
      log.add({
        projection: 'order-view',
        table: 'order_view',
        key: orderId,
        field: 'row',
        expected: `version ${String(order.view.version)}`,
        found: null,
      });
      log.figures.lost += order.view.version;
      continue;
    }
    for (const [field, expected] of Object.entries(order.view) as [keyof ExpectedOrderView, unknown][]) {
      log.field('order-view', 'order_view', orderId, field, asText(expected), asText(row[field]));
    }
    const versionShort = order.view.version - Number(row.version);
    if (versionShort > 0) log.figures.lost += versionShort;
    const appliedOver = Number(row.applied_events) - order.view.applied_events;
    if (appliedOver > 0) log.figures.appliedTwice += appliedOver;
    else if (versionShort <= 0)
      classifyAmount(log, amount(row.total_minor), BigInt(order.view.total_minor), order.totalEffects);
  }
}

async function compareCustomerOrders(
  sql: Sql,
  scope: Scope,
  folded: ReadonlyMap<string, FoldedOrder>,
  ids: readonly string[],
  log: DifferenceLog,
): Promise<void> {
  const columns = `order_id::text, customer_id, currency::text AS currency, ${exactLinesSql('lines')} AS lines, cancelled`;
  const found = await rowsOf(sql, tableOf(scope, 'customer-summary', 'customer_summary_orders'), columns, ids);
  for (const [orderId, order] of folded) {
    const expected = {
      customer_id: order.view.customer_id,
      currency: order.view.currency,
      lines: order.customerOrder.lines,
      cancelled: order.customerOrder.cancelled,
    };
    compareSideRow(
      log,
      'customer-summary',
      'customer_summary_orders',
      orderId,
      expected,
      found.get(orderId),
      order.customerEffects,
      order.view.version,
    );
  }
}

async function compareSalesOrders(
  sql: Sql,
  scope: Scope,
  folded: ReadonlyMap<string, FoldedOrder>,
  ids: readonly string[],
  log: DifferenceLog,
): Promise<void> {
  const found = await rowsOf(
    sql,
    tableOf(scope, 'sales', 'sales_orders'),
    `order_id::text, currency::text AS currency, ${exactLinesSql('lines')} AS lines`,
    ids,
  );
  for (const [orderId, order] of folded) {
    compareSideRow(
      log,
      'sales',
      'sales_orders',
      orderId,
      { currency: order.view.currency, lines: order.salesLines },
      found.get(orderId),
      order.totalEffects,
      order.view.version,
    );
  }
}

function compareSideRow(
  log: DifferenceLog,
  projection: string,
  table: string,
  orderId: string,
  expected: Record<string, unknown> & { lines: ExactLine[] },
  row: Row | undefined,
  effects: readonly bigint[],
  events: number,
): void {
  if (!row) {
    log.add({ projection, table, key: orderId, field: 'row', expected: canonicalJson(expected), found: null });
    log.figures.lost += events;
    return;
  }
  let linesAgree = true;
  for (const [field, value] of Object.entries(expected)) {
    const agrees = log.field(projection, table, orderId, field, asText(value), asText(row[field]));
    if (field === 'lines' && !agrees) linesAgree = false;
  }
  if (!linesAgree) classifyAmount(log, totalOfLines(row.lines as ExactLine[]), totalOfLines(expected.lines), effects);
}

async function compareVersions(
  sql: Sql,
  scope: Scope,
  projection: VerifiedProjection,
  folded: ReadonlyMap<string, FoldedOrder>,
  ids: readonly string[],
  log: DifferenceLog,
): Promise<void> {
  const rows = await sql.query<{ order_id: string; version: number }>(
    `SELECT order_id, version FROM ${tableOf(scope, projection, 'projection_order_versions')} WHERE projection = $1 AND order_id = ANY($2::text[])`,
    [projection, ids],
  );
  const found = new Map(rows.map((row) => [row.order_id, row.version]));
  for (const [orderId, order] of folded) {
    // Every event advances every projection's version, read or not (sequence.ts): the last stored one.
    const version = found.get(orderId);
    log.field(
      projection,
      'projection_order_versions',
      orderId,
      'version',
      String(order.view.version),
      version === undefined ? null : String(version),
    );
    if ((version ?? 0) < order.view.version) log.figures.lost += order.view.version - (version ?? 0);
  }
}

/** An amount off by exactly one event's effect is that event applied twice, or lost. */
export function classifyAmount(
  log: DifferenceLog,
  found: bigint | null,
  expected: bigint,
  effects: readonly bigint[],
): void {
  if (found === null) return;
  const events = countEffects(found - expected, effects);
  if (events > 0) log.figures.appliedTwice += events;
  if (events < 0) log.figures.lost -= events;
}

/** Read-side order ids read, and looked up in the store, per round trip. */
const ORPHAN_PAGE = 5_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Rows of the checked projections' per-order tables whose order is not in the store at all: the
 * first `limit` of each table listed, all counted. The two sides may be two databases, so no query
 * joins them: each page of the table's order ids is looked up in the store by its own query.
 */
export async function compareOrphans(
  sources: VerifySources,
  scope: Scope,
  log: DifferenceLog,
  limit: number,
): Promise<void> {
  const tables: [VerifiedProjection, string][] = [
    ['order-view', 'order_view'],
    ['customer-summary', 'customer_summary_orders'],
    ['sales', 'sales_orders'],
  ];
  for (const [projection, table] of tables) {
    if (!scope.projections.includes(projection)) continue;
    const orphans = await orphansOf(sources, { table: tableOf(scope, projection, table), idType: 'uuid' }, limit);
    for (const { orderId } of orphans.listed)
      log.add({
        projection,
        table,
        key: orderId,
        field: 'row',
        expected: null,
        found: 'a row for an order not in the store',
      });
    log.unlisted(projection, table, orphans.total - orphans.listed.length);
  }
  for (const projection of scope.projections) {
    const versions = tableOf(scope, projection, 'projection_order_versions');
    const orphans = await orphansOf(sources, { table: versions, idType: 'text', projection }, limit);
    for (const row of orphans.listed)
      log.add({
        projection,
        table: 'projection_order_versions',
        key: row.orderId,
        field: 'version',
        expected: null,
        found: String(row.version),
      });
    log.unlisted(projection, 'projection_order_versions', orphans.total - orphans.listed.length);
  }
}

/** A per-order read-side table, and the projection its rows belong to when it keeps several projections' rows. */
interface OrderTable {
  readonly table: string;
  readonly idType: 'uuid' | 'text';
  readonly projection?: string;
}

/**
 * The rows of the table whose order id is not an order of the store, in order id order: the first
 * `limit`, and how many in all. A text id counts as the store's order only when it is that order's
 * id as the store spells it (lower case), as a join on `order_id::text` would have it.
 */
async function orphansOf(
  { store, read }: VerifySources,
  { table, idType, projection }: OrderTable,
  limit: number,
): Promise<{ listed: { orderId: string; version: number | null }[]; total: number }> {
  const listed: { orderId: string; version: number | null }[] = [];
  let total = 0;
  const [version, ofProjection] = projection === undefined ? ['NULL::int', ''] : ['version', 'AND projection = $3'];
  for (let after: string | null = null; ;) {
    const rows: { order_id: string; version: number | null }[] = await read.query(
      `SELECT order_id::text, ${version} AS version FROM ${table}
        WHERE ($1::text IS NULL OR order_id > $1::${idType}) ${ofProjection} ORDER BY order_id LIMIT $2`,
      projection === undefined ? [after, ORPHAN_PAGE] : [after, ORPHAN_PAGE, projection],
    );
    const ids = rows.map((row) => row.order_id).filter((id) => UUID.test(id));
    const found = await store.query<{ order_id: string }>(
      'SELECT DISTINCT order_id::text FROM events WHERE order_id = ANY($1::uuid[])',
      [ids],
    );
    const known = new Set(found.map((row) => row.order_id));
    for (const row of rows) {
      if (known.has(row.order_id)) continue;
      total++;
      if (listed.length < limit) listed.push({ orderId: row.order_id, version: row.version });
    }
    if (rows.length < ORPHAN_PAGE) return { listed, total };
    after = rows.at(-1)?.order_id ?? null;
  }
}
