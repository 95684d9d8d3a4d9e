import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';

import { PipelinedSql } from '@app/platform';

import { OrderView } from './order-view.entity.js';
import { ORDER_VIEW_COLUMNS } from './order-view.columns.js';
import { OrderVersionWaits } from './order-version-waits.js';

export interface OrderListFilter {
  readonly customerId?: string | undefined;
  readonly status?: string | undefined;
  /** The last order of the previous page: the next page starts after it. */
  readonly after?: { readonly placedAt: Date; readonly orderId: string } | undefined;
  readonly limit: number;
}

@Injectable()
export class OrderViewQueries {
  private readonly orders: Repository<OrderView>;

  constructor(
    @Inject(DataSource) dataSource: DataSource,
    @Inject(PipelinedSql) private readonly sql: PipelinedSql,
    @Inject(OrderVersionWaits) private readonly waits: OrderVersionWaits,
  ) {
    this.orders = dataSource.getRepository(OrderView);
  }

  /**
   * Plain SQL rather than the repository: the hottest read, and TypeORM's query building cost more
   * CPU than the rest of the request (docs/benchmarks.md); a prepared statement, planned once per
   * connection. Same shape as the entity.
   */
  async findById(orderId: string): Promise<OrderView | null> {
    const rows: OrderView[] = await this.sql.query(`SELECT ${ORDER_VIEW_COLUMNS} FROM order_view WHERE order_id = $1`, [
      orderId,
    ]);
    return rows[0] ?? null;
  }

  /**
   * Waits until the order's view reaches `minVersion` or `timeoutMs` passes; returns the view as it
   * is then (possibly older, or null). A read that is already there answers at once; otherwise the
   * projection's commit wakes it (OrderVersionWaits).
   */
  async waitForVersion(orderId: string, minVersion: number, timeoutMs: number): Promise<OrderView | null> {
    if (timeoutMs <= 0) return this.findById(orderId);
    const waited = await this.waits.wait(orderId, minVersion, timeoutMs);
    // Not reached in time: the view as it is now, not as the last read (up to a poll ago) saw it.
    return waited.read && waited.reached ? waited.view : this.findById(orderId);
  }

  /** Newest first, keyset-paginated on (placed_at, order_id): stable under concurrent inserts. */
  list(filter: OrderListFilter): Promise<OrderView[]> {
    const query = this.orders
      .createQueryBuilder('o')
      .orderBy('o.placedAt', 'DESC')
      .addOrderBy('o.orderId', 'DESC')
      .limit(filter.limit);
    if (filter.customerId !== undefined)
      query.andWhere('o.customerId = :customerId', { customerId: filter.customerId });
    if (filter.status !== undefined) query.andWhere('o.status = :status', { status: filter.status });
    if (filter.after) {
      query.andWhere('(o.placedAt, o.orderId) < (:afterAt, :afterId)', {
        afterAt: filter.after.placedAt,
        afterId: filter.after.orderId,
      });
    }
    return query.getMany();
  }
}
