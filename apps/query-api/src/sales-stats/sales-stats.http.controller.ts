import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty } from '@nestjs/swagger';

import { SalesQueries } from '@app/read-models';

import { SIGNED_MINOR_AMOUNT_SCHEMA, toMinorAmount, type MinorAmount } from '../shared/minor-amount.js';
import { badParameter, bucketWindow } from '../shared/time-window.js';
import { SalesStatsQuery } from './sales-stats.query.dto.js';

const BUCKET_MS = { '5m': 300_000, '1h': 3_600_000 } as const;
const MAX_BUCKETS = 2_000;
const DEFAULT_SPAN_MS = 24 * 3_600_000;

export class SalesBucketResponse {
  @ApiProperty({ format: 'date-time' })
  readonly bucketStart!: string;

  @ApiProperty({ description: 'Orders placed in the bucket.', example: 12 })
  readonly orders!: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: SIGNED_MINOR_AMOUNT_SCHEMA,
    example: { EUR: 2500 },
    description:
      'Totals of the orders confirmed in the bucket less those of the orders returned in it, per ISO 4217 ' +
      `currency (a return is booked when it happens, so a bucket can be negative). ${SIGNED_MINOR_AMOUNT_SCHEMA.description}`,
  })
  readonly revenueByCurrency!: Readonly<Record<string, MinorAmount>>;

  @ApiProperty({ description: 'Orders cancelled in the bucket.', example: 1 })
  readonly cancellations!: number;
}

export class SalesStatsResponse {
  @ApiProperty({ enum: ['5m', '1h'] })
  readonly granularity!: string;

  @ApiProperty({ format: 'date-time', description: 'Start of the first bucket.' })
  readonly from!: string;

  @ApiProperty({ format: 'date-time', description: 'End of the last bucket (exclusive).' })
  readonly to!: string;

  @ApiProperty({ type: [SalesBucketResponse] })
  readonly buckets!: readonly SalesBucketResponse[];
}

@Controller('stats')
export class SalesStatsController {
  constructor(@Inject(SalesQueries) private readonly sales: SalesQueries) {}

  /** Every bucket of the window, oldest first, zeros included. */
  @Get('sales')
  @ApiOperation({
    operationId: 'salesStats',
    summary: 'Orders, revenue per currency and cancellations per 5-minute or hourly bucket',
  })
  @ApiOkResponse({ type: SalesStatsResponse })
  async salesStats(@Query() query: SalesStatsQuery): Promise<SalesStatsResponse> {
    const size = BUCKET_MS[query.granularity];
    const { from, to } = bucketWindow(query, size, DEFAULT_SPAN_MS);
    if ((to - from) / size > MAX_BUCKETS)
      throw badParameter('from', `the window spans more than ${MAX_BUCKETS} buckets of ${query.granularity}`);

    const rows = await this.sales.between(query.granularity, new Date(from), new Date(to));
    const buckets = new Map<number, { orders: number; revenue: Map<string, bigint>; cancellations: number }>();
    for (let start = from; start < to; start += size)
      buckets.set(start, { orders: 0, revenue: new Map(), cancellations: 0 });
    for (const row of rows) {
      const bucket = buckets.get(row.bucketStart.getTime());
      if (!bucket) continue;
      bucket.orders += row.orders;
      bucket.cancellations += row.cancellations;
      const revenue = BigInt(row.revenueMinor);
      if (revenue !== 0n)
        bucket.revenue.set(row.currency.trim(), (bucket.revenue.get(row.currency.trim()) ?? 0n) + revenue);
    }
    return {
      granularity: query.granularity,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      buckets: [...buckets].map(([start, { orders, revenue, cancellations }]) => ({
        bucketStart: new Date(start).toISOString(),
        orders,
        revenueByCurrency: Object.fromEntries(
          [...revenue].map(([currency, amount]) => [currency, toMinorAmount(amount)]),
        ),
        cancellations,
      })),
    };
  }
}
