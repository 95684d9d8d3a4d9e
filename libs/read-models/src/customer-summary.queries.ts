import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import type { CustomerSummary } from './customer-summary.entity.js';

@Injectable()
export class CustomerSummaryQueries {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Plain SQL: the totals leave Postgres as text, so no digit is lost on the way (the entity explains). */
  async findById(customerId: string): Promise<CustomerSummary | null> {
    const rows: CustomerSummary[] = await this.dataSource.query(
      `SELECT customer_id AS "customerId", order_count AS "orderCount",
              (SELECT coalesce(jsonb_object_agg(t.currency, t.amount #>> '{}'), '{}') FROM jsonb_each(totals_by_currency) AS t(currency, amount)) AS "totalsByCurrency",
              last_order_id AS "lastOrderId", last_order_at AS "lastOrderAt"
         FROM customer_summary WHERE customer_id = $1`,
      [customerId],
    );
    return rows[0] ?? null;
  }
}
