import { quoteIdentifier as quote } from '@app/platform';

import type { Sql } from './sql.js';

/** The projections verification knows, and the tables each owns beside its bookkeeping. */
export const VERIFIED_PROJECTIONS = {
  'order-view': ['order_view'],
  'customer-summary': ['customer_summary', 'customer_summary_orders'],
  sales: ['sales_buckets', 'sales_orders'],
} as const;

export type VerifiedProjection = keyof typeof VERIFIED_PROJECTIONS;
export const VERIFIED_PROJECTION_NAMES = Object.keys(VERIFIED_PROJECTIONS) as VerifiedProjection[];

/** Which projections are checked, each with its live generation's schema (quoted, for SQL). */
export interface Scope {
  readonly projections: readonly VerifiedProjection[];
  /** The quoted schema of each checked projection's live generation. */
  readonly schema: Readonly<Partial<Record<VerifiedProjection, string>>>;
}

export class ProjectionNotLive extends Error {
  constructor(projection: string) {
    super(`projection ${projection} has no live generation (projection_generations): run the migrations first`);
    this.name = 'ProjectionNotLive';
  }
}

/** Reads the live generation of each projection to check: verification reads what readers read. */
export async function resolveScope(sql: Sql, projections: readonly VerifiedProjection[]): Promise<Scope> {
  const rows = await sql.query<{ projection: string; schema_name: string }>(
    'SELECT projection, schema_name FROM projection_generations',
  );
  const live = new Map(rows.map((row) => [row.projection, row.schema_name]));
  const schema: Partial<Record<VerifiedProjection, string>> = {};
  for (const projection of projections) {
    const name = live.get(projection);
    if (name === undefined) throw new ProjectionNotLive(projection);
    schema[projection] = quote(name);
  }
  return { projections, schema };
}

/** The checked projection's live table, schema-qualified and quoted. */
export function tableOf(scope: Scope, projection: VerifiedProjection, table: string): string {
  const schema = scope.schema[projection];
  if (schema === undefined) throw new Error(`projection ${projection} is not in the verification's scope`);
  return `${schema}.${quote(table)}`;
}
