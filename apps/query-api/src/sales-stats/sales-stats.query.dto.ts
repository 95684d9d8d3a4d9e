import { IsIn, IsISO8601, IsOptional } from 'class-validator';

export class SalesStatsQuery {
  @IsIn(['5m', '1h'])
  granularity!: '5m' | '1h';

  /** Start (inclusive), rounded down to a bucket; default: 24 hours before `to`. */
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  /** End (exclusive), rounded up to a bucket; default: now. */
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}
