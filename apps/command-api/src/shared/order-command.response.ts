import { ApiProperty } from '@nestjs/swagger';

import { ORDER_STATUSES, type OrderStatus } from '@app/orders-domain';

/** What every command that changes an order answers (also in the ETag header, as the version). */
export class OrderCommandResponse {
  @ApiProperty({ format: 'uuid' })
  orderId!: string;

  @ApiProperty({
    description: 'The order version after this command; pass it as If-Match or as minVersion to the query API.',
    example: 1,
  })
  version!: number;

  @ApiProperty({ enum: ORDER_STATUSES })
  status!: OrderStatus;
}

export class ErrorResponse {
  @ApiProperty({ example: 409 })
  statusCode!: number;

  @ApiProperty({ example: 'Conflict' })
  error!: string;

  @ApiProperty({
    required: false,
    description: 'Stable code of the broken rule (409) or the failure (412, 413, 422).',
    example: 'ORDER_NOT_PLACED',
  })
  code?: string;

  @ApiProperty()
  message!: string;

  @ApiProperty({
    required: false,
    description: '400 only: each invalid field by its path.',
    example: [{ field: 'lines.0.quantity', errors: ['quantity must not be less than 1'] }],
  })
  fields?: { field: string; errors: string[] }[];
}
