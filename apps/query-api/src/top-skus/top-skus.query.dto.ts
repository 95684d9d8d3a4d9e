import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, Max, Min } from 'class-validator';

export class TopSkusQuery {
  /** Start (inclusive), rounded down to the hour; default: 24 hours before `to`. */
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  /** End (exclusive), rounded up to the hour; default: now. */
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  /** How many SKUs, 1 to 100; default 10. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}
