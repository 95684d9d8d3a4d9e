import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsISO4217CurrencyCode,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

import { MAX_LINES_PER_ORDER } from '@app/orders-domain';

/** Printable, no surrounding spaces: identifiers end up in logs, headers and URLs. */
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

export class OrderLineRequest {
  @IsString()
  @Length(1, 64)
  @Matches(IDENTIFIER, { message: 'sku must be letters, digits, and . _ : - (not first)' })
  sku!: string;

  @IsInt()
  @Min(1)
  @Max(1_000_000)
  quantity!: number;

  /** Integer minor units (cents): money is never a float. */
  @IsInt()
  @Min(0)
  @Max(1_000_000_000_000)
  unitPriceMinor!: number;
}

export class PlaceOrderRequest {
  @IsString()
  @Length(1, 128)
  @Matches(IDENTIFIER, { message: 'customerId must be letters, digits, and . _ : - (not first)' })
  customerId!: string;

  @IsISO4217CurrencyCode()
  currency!: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_LINES_PER_ORDER)
  @ValidateNested({ each: true })
  @Type(() => OrderLineRequest)
  lines!: OrderLineRequest[];
}
