import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';

import { OrderView } from './order-view.entity.js';
import { OrderVersionWaits } from './order-version-waits.js';

export interface OrderListFilter {
  readonly customerId?: string | undefined;
  readonly status?: string | undefined;
  /** The last order of the previous page: the next page starts after it. */
  readonly after?: { readonly placedAt: Date; readonly orderId: string } | undefined;
  readonly limit: number;
}

/** Each property of the entity and the SQL that reads it: a new field fails typecheck here until it is read. */
const ORDER_VIEW_SELECT = {
  orderId: 'order_id',
  customerId: 'customer_id',
  status: 'status',
  currency: 'currency',
  lines: 'lines',
  totalMinor: 'total_minor::text',
  version: 'version',
  placedAt: 'placed_at',
  confirmedAt: 'confirmed_at',
  shippedAt: 'shipped_at',
  deliveredAt: 'delivered_at',
  cancelledAt: 'cancelled_at',
  updatedAt: 'updated_at',
  paymentReference: 'payment_reference',
  carrier: 'carrier',
  trackingNumber: 'tracking_number',
  cancelReason: 'cancel_reason',
  returnedAt: 'returned_at',
  returnReason: 'return_reason',
} satisfies Record<keyof OrderView, string>;

const ORDER_VIEW_COLUMNS = Object.entries(ORDER_VIEW_SELECT)
  .map(([property, sql]) => `${sql} AS "${property}"`)
  .join(', ');

@Injectable()
export class OrderViewQueries {
  private readonly orders: Repository<OrderView>;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(OrderVersionWaits) private readonly waits: OrderVersionWaits,
  ) {
    this.orders = dataSource.getRepository(OrderView);
  }

  /**
   * Plain SQL rather than the repository: the hottest read, and TypeORM's query building cost more
   * CPU than the rest of the request (docs/benchmarks.md). Same shape as the entity.
   */
  async findById(orderId: string): Promise<OrderView | null> {
    const rows: OrderView[] = await this.dataSource.query(
      `SELECT ${ORDER_VIEW_COLUMNS} FROM order_view WHERE order_id = $1`,
      [orderId],
    );
    return rows[0] ?? null;
  }

  /**
   * Waits until the order's view reaches `minVersion` or `timeoutMs` passes; returns the view as it
   * is then (possibly older, or null). A read that is already there answers at once; otherwise the
   * projection's commit wakes it (OrderVersionWaits).
   */
  async waitForVersion(orderId: string, minVersion: number, timeoutMs: number): Promise<OrderView | null> {
    const view = await this.findById(orderId);
    if ((view && view.version >= minVersion) || timeoutMs <= 0) return view;
    await this.waits.wait(orderId, minVersion, timeoutMs);
    return this.findById(orderId); // reached, or as it is when the wait ran out
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
