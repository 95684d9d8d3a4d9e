import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsString, Length, Matches, Max, Min } from 'class-validator';

import { IDENTIFIER, IDENTIFIER_MESSAGE } from './validation-rules.js';

export class OrderLineRequest {
  @ApiProperty({ example: 'BOOK-1', minLength: 1, maxLength: 64, pattern: IDENTIFIER.source })
  @IsString()
  @Length(1, 64)
  @Matches(IDENTIFIER, { message: IDENTIFIER_MESSAGE })
  sku!: string;

  @ApiProperty({ example: 2, minimum: 1, maximum: 1_000_000 })
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  quantity!: number;

  @ApiProperty({
    description: 'Price of one unit in minor units (cents): money is never a float.',
    example: 1250,
    minimum: 0,
  })
  @IsInt()
  @Min(0)
  @Max(1_000_000_000_000)
  unitPriceMinor!: number;
}
