import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A customer's orders at a glance. Written only by the customer-summary projection. */
@Entity('customer_summary')
export class CustomerSummary {
  @PrimaryColumn('text', { name: 'customer_id' })
  customerId!: string;

  @Column('integer', { name: 'order_count' })
  orderCount!: number;

  /**
   * Totals of the customer's orders that are not cancelled, in minor units per ISO 4217 currency.
   * Stored as JSON numbers, which jsonb keeps exactly at any size; read as decimal strings
   * (CustomerSummaryQueries), since JSON.parse would round anything past 2^53.
   */
  @Column('jsonb', { name: 'totals_by_currency' })
  totalsByCurrency!: Record<string, string>;

  /** Null only in a row written without an order placed, which the projection never leaves behind. */
  @Column('uuid', { name: 'last_order_id', nullable: true })
  lastOrderId!: string | null;

  @Column('timestamptz', { name: 'last_order_at', nullable: true })
  lastOrderAt!: Date | null;
}
