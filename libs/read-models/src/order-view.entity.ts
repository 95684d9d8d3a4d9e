import type { OrderChannel } from '@app/orders-domain';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export interface OrderViewLine {
  readonly sku: string;
  readonly quantity: number;
  readonly unitPriceMinor: number;
}

/** Order statuses as the read models store them: the domain's, so a new status needs no edit here. */
export { ORDER_STATUSES } from '@app/orders-domain';

/** The order as the query API serves it. Written only by the order-view projection. */
@Entity('order_view')
export class OrderView {
  @PrimaryColumn('uuid', { name: 'order_id' })
  orderId!: string;

  @Column('text', { name: 'customer_id' })
  customerId!: string;

  @Column('text')
  status!: string;

  @Column('char', { length: 3 })
  currency!: string;

  @Column('jsonb')
  lines!: OrderViewLine[];

  /** numeric, exact at any size; Postgres returns it as a string so no digit is lost on the way. */
  @Column('numeric', { name: 'total_minor' })
  totalMinor!: string;

  /** The order version this row reflects; the projection's duplicate guard. */
  @Column('integer')
  version!: number;

  @Column('timestamptz', { name: 'placed_at' })
  placedAt!: Date;

  @Column('timestamptz', { name: 'confirmed_at', nullable: true })
  confirmedAt!: Date | null;

  @Column('timestamptz', { name: 'shipped_at', nullable: true })
  shippedAt!: Date | null;

  @Column('timestamptz', { name: 'delivered_at', nullable: true })
  deliveredAt!: Date | null;

  @Column('timestamptz', { name: 'cancelled_at', nullable: true })
  cancelledAt!: Date | null;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;

  @Column('text', { name: 'payment_reference', nullable: true })
  paymentReference!: string | null;

  @Column('text', { nullable: true })
  carrier!: string | null;

  @Column('text', { name: 'tracking_number', nullable: true })
  trackingNumber!: string | null;

  @Column('text', { name: 'cancel_reason', nullable: true })
  cancelReason!: string | null;

  @Column('timestamptz', { name: 'returned_at', nullable: true })
  returnedAt!: Date | null;

  @Column('text', { name: 'return_reason', nullable: true })
  returnReason!: string | null;

  /** Where the order was placed: `web`, `store` or `phone` (OrderPlaced v2; earlier orders came through the web). */
  @Column('text')
  channel!: OrderChannel;
}
