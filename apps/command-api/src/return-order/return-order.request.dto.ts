import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, Matches } from 'class-validator';

import { TEXT, TEXT_MESSAGE } from '../shared/validation-rules.js';

export class ReturnOrderRequest {
  @ApiProperty({ example: 'arrived damaged', minLength: 1, maxLength: 500 })
  @IsString()
  @Length(1, 500)
  @Matches(TEXT, { message: TEXT_MESSAGE })
  reason!: string;
}
