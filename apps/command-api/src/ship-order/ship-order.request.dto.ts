import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, Matches } from 'class-validator';

import { IDENTIFIER, IDENTIFIER_MESSAGE, TEXT, TEXT_MESSAGE } from '../shared/validation-rules.js';

export class ShipOrderRequest {
  @ApiProperty({ example: 'DHL Express', minLength: 1, maxLength: 64 })
  @IsString()
  @Length(1, 64)
  @Matches(TEXT, { message: TEXT_MESSAGE })
  carrier!: string;

  @ApiProperty({ example: 'JD014600006281234567', minLength: 1, maxLength: 128 })
  @IsString()
  @Length(1, 128)
  @Matches(IDENTIFIER, { message: IDENTIFIER_MESSAGE })
  trackingNumber!: string;
}
