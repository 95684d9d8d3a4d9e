import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import type { CustomerSummary } from './customer-summary.entity.js';

/** Each property of the entity and the SQL that reads it: a new field fails typecheck here until it is read. */
const CUSTOMER_SUMMARY_SELECT = {
  customerId: 'customer_id',
  orderCount: 'order_count',
  totalsByCurrency: `(SELECT coalesce(jsonb_object_agg(t.currency, t.amount #>> '{}'), '{}') FROM jsonb_each(totals_by_currency) AS t(currency, amount))`,
  lastOrderId: 'last_order_id',
  lastOrderAt: 'last_order_at',
} satisfies Record<keyof CustomerSummary, string>;

const CUSTOMER_SUMMARY_COLUMNS = Object.entries(CUSTOMER_SUMMARY_SELECT)
  .map(([property, sql]) => `${sql} AS "${property}"`)
  .join(', ');

@Injectable()
export class CustomerSummaryQueries {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Plain SQL: the totals leave Postgres as text, so no digit is lost on the way (the entity explains). */
  async findById(customerId: string): Promise<CustomerSummary | null> {
    const rows: CustomerSummary[] = await this.dataSource.query(
      `SELECT ${CUSTOMER_SUMMARY_COLUMNS}
         FROM customer_summary WHERE customer_id = $1`,
      [customerId],
    );
    return rows[0] ?? null;
  }
}
