import { ApiProperty } from '@nestjs/swagger';
import { IsString, IsUUID, Length, Matches } from 'class-validator';

import { IDENTIFIER, IDENTIFIER_MESSAGE } from '../shared/validation-rules.js';

/** The path parameters: the order and the sku of the line to remove. */
export class RemoveOrderLineParams {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all', { message: 'id must be a UUID' })
  id!: string;

  @ApiProperty({ example: 'BOOK-1' })
  @IsString()
  @Length(1, 64)
  @Matches(IDENTIFIER, { message: IDENTIFIER_MESSAGE })
  sku!: string;
}
