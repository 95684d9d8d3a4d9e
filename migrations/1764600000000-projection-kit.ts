import type { MigrationInterface, QueryRunner } from 'typeorm';

import { alterProjectionTable } from '@app/projections';

/** The tables that keep each order's row of an aggregate projection (a migration never reads today's code). */
const STREAM_TABLES = [
  { projection: 'customer-summary', table: 'customer_summary_orders' },
  { projection: 'sales', table: 'sales_orders' },
];

/**
 * The projection kit (ADR 8) keeps, in every row about one stream, the stream version it reflects,
 * and skips an event at or below it. The order view has its version already; the aggregate
 * projections' per-order tables gain one, filled with the version their bookkeeping recorded.
 */
export class ProjectionKit1764600000000 implements MigrationInterface {
  name = 'ProjectionKit1764600000000';

  async up(db: QueryRunner): Promise<void> {
    for (const { projection, table } of STREAM_TABLES) {
      await alterProjectionTable(db, {
        projection,
        table,
        alter: 'ADD COLUMN version integer NOT NULL DEFAULT 0',
        then: `UPDATE ${table} AS o SET version = v.version FROM projection_order_versions AS v
                WHERE v.projection = '${projection}' AND v.order_id = o.order_id::text`,
      });
    }
  }

  async down(db: QueryRunner): Promise<void> {
    for (const { projection, table } of STREAM_TABLES) {
      await alterProjectionTable(db, { projection, table, alter: 'DROP COLUMN version' });
    }
  }
}
