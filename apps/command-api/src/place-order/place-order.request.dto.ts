import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsString,
  Length,
  Matches,
  ValidateBy,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

import { KNOWN_CURRENCIES, MAX_LINES_PER_ORDER, ORDER_CHANNELS, type OrderChannel } from '@app/orders-domain';

import { OrderLineRequest } from '../shared/order-line.request.dto.js';
import { IDENTIFIER, IDENTIFIER_MESSAGE } from '../shared/validation-rules.js';

export class PlaceOrderRequest {
  @ApiProperty({ example: 'customer-1', minLength: 1, maxLength: 128, pattern: IDENTIFIER.source })
  @IsString()
  @Length(1, 128)
  @Matches(IDENTIFIER, { message: IDENTIFIER_MESSAGE })
  customerId!: string;

  @ApiProperty({ description: 'ISO 4217 code', example: 'EUR' })
  @IsIn(KNOWN_CURRENCIES, { message: 'currency must be an ISO 4217 currency code' })
  currency!: string;

  @ApiProperty({ type: [OrderLineRequest], minItems: 1, maxItems: MAX_LINES_PER_ORDER })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_LINES_PER_ORDER)
  // ValidateNested names a line that is not an object (`lines.1`), except an array: it validates the
  // array's items as lines instead, and an empty one passes.
  @ValidateBy({
    name: 'noArrayLines',
    validator: {
      validate: (lines: unknown) => !Array.isArray(lines) || !lines.some(Array.isArray),
      defaultMessage: () => 'each line must be an object, not an array',
    },
  })
  @ValidateNested({ each: true })
  @Type(() => OrderLineRequest)
  lines!: OrderLineRequest[];

  @ApiPropertyOptional({ enum: ORDER_CHANNELS, default: 'web', description: 'where the order was placed' })
  // Absent means the web shop; null is a mistake, not absence (IsOptional would let it through).
  @ValidateIf((_request: PlaceOrderRequest, channel: unknown) => channel !== undefined)
  @IsIn(ORDER_CHANNELS, { message: `channel must be one of ${ORDER_CHANNELS.join(', ')}` })
  channel?: OrderChannel;
}
