import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface TopSkuRow {
  readonly sku: string;
  /** numeric, as text: exact at any size. */
  readonly quantity: string;
  /** Amounts per currency as decimal text, zeros left out. */
  readonly revenue: Readonly<Record<string, string>>;
}

/** Reads the top-skus projection's public view: one row per SKU and hour. */
@Injectable()
export class TopSkusQueries {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** The SKUs with the most units in [from, to), most first (ties by SKU), with their revenue per currency. */
  async between(from: Date, to: Date, limit: number): Promise<TopSkuRow[]> {
    return this.dataSource.query(
      `WITH in_window AS (
         SELECT sku, quantity, revenue_by_currency FROM top_skus WHERE hour >= $1 AND hour < $2
       ), totals AS (
         SELECT sku, sum(quantity) AS quantity FROM in_window GROUP BY sku HAVING sum(quantity) > 0
          ORDER BY sum(quantity) DESC, sku LIMIT $3
       ), revenue AS (
         SELECT w.sku, r.key AS currency, sum(r.value::numeric) AS amount
           FROM in_window w JOIN totals USING (sku), jsonb_each_text(w.revenue_by_currency) AS r
          GROUP BY w.sku, r.key
       )
       SELECT t.sku, t.quantity::text AS quantity,
              coalesce(jsonb_object_agg(r.currency, r.amount::text) FILTER (WHERE r.amount <> 0), '{}') AS revenue
         FROM totals t LEFT JOIN revenue r USING (sku)
        GROUP BY t.sku, t.quantity
        ORDER BY t.quantity DESC, t.sku`,
      [from, to, limit],
    );
  }
}
