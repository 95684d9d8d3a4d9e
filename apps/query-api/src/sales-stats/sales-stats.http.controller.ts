import { BadRequestException, Controller, Get, Inject, Query } from '@nestjs/common';

import { SalesQueries } from '@app/read-models';

import { SalesStatsQuery } from './sales-stats.query.dto.js';

const BUCKET_MS = { '5m': 300_000, '1h': 3_600_000 } as const;
const MAX_BUCKETS = 2_000;
const DEFAULT_SPAN_MS = 24 * 3_600_000;

export interface SalesBucketResponse {
  readonly bucketStart: string;
  /** Orders placed in the bucket. */
  readonly orders: number;
  /** Totals of the orders confirmed in the bucket, per currency, in minor units. */
  readonly revenueByCurrency: Readonly<Record<string, number>>;
  /** Orders cancelled in the bucket. */
  readonly cancellations: number;
}

@Controller('stats')
export class SalesStatsController {
  constructor(@Inject(SalesQueries) private readonly sales: SalesQueries) {}

  /** Every bucket of the window, oldest first, zeros included. */
  @Get('sales')
  async salesStats(@Query() query: SalesStatsQuery): Promise<{ granularity: string; from: string; to: string; buckets: SalesBucketResponse[] }> {
    const size = BUCKET_MS[query.granularity];
    const requestedTo = query.to === undefined ? Date.now() : Date.parse(query.to);
    const requestedFrom = query.from === undefined ? requestedTo - DEFAULT_SPAN_MS : Date.parse(query.from);
    const from = Math.floor(requestedFrom / size) * size;
    const to = Math.ceil(requestedTo / size) * size;
    if (!(from < to)) throw badWindow('from must be before to');
    if ((to - from) / size > MAX_BUCKETS) throw badWindow(`the window spans more than ${MAX_BUCKETS} buckets of ${query.granularity}`);

    const rows = await this.sales.between(query.granularity, new Date(from), new Date(to));
    const buckets = new Map<number, { orders: number; revenueByCurrency: Record<string, number>; cancellations: number }>();
    for (let start = from; start < to; start += size) buckets.set(start, { orders: 0, revenueByCurrency: {}, cancellations: 0 });
    for (const row of rows) {
      const bucket = buckets.get(row.bucketStart.getTime());
      if (!bucket) continue;
      bucket.orders += row.orders;
      bucket.cancellations += row.cancellations;
      const revenue = Number(row.revenueMinor);
      if (revenue !== 0) bucket.revenueByCurrency[row.currency.trim()] = (bucket.revenueByCurrency[row.currency.trim()] ?? 0) + revenue;
    }
    return {
      granularity: query.granularity,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      buckets: [...buckets].map(([start, bucket]) => ({ bucketStart: new Date(start).toISOString(), ...bucket })),
    };
  }
}

function badWindow(message: string): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message, fields: [{ field: 'from', errors: [message] }] });
}
