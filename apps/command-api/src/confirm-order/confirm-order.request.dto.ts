import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, Matches } from 'class-validator';

import { IDENTIFIER, IDENTIFIER_MESSAGE } from '../shared/validation-rules.js';

export class ConfirmOrderRequest {
  @ApiProperty({ example: 'pay_8f2k1', minLength: 1, maxLength: 128 })
  @IsString()
  @Length(1, 128)
  @Matches(IDENTIFIER, { message: IDENTIFIER_MESSAGE })
  paymentReference!: string;
}
