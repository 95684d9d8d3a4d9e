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
