import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Sales of one currency in one time bucket. Written only by the sales projection. */
@Entity('sales_buckets')
export class SalesBucket {
  @PrimaryColumn('text')
  granularity!: '5m' | '1h';

  @PrimaryColumn('timestamptz', { name: 'bucket_start' })
  bucketStart!: Date;

  @PrimaryColumn('char', { length: 3 })
  currency!: string;

  /** Orders placed in the bucket. */
  @Column('integer')
  orders!: number;

  /**
   * Totals of the orders confirmed in the bucket, in minor units. numeric: a bucket's sum of orders
   * can pass bigint's 2^63; Postgres returns it as a string so no digit is lost on the way.
   */
  @Column('numeric', { name: 'revenue_minor' })
  revenueMinor!: string;

  /** Orders cancelled in the bucket. */
  @Column('integer')
  cancellations!: number;
}
