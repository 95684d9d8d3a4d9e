import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export class GetOrderQuery {
  /** Read-your-writes: wait (bounded) until the read model shows at least this version. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(2_147_483_647)
  minVersion?: number;
}
