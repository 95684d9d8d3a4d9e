import { ApiProperty } from '@nestjs/swagger';

import { ORDER_CHANNELS, ORDER_STATUSES, type OrderChannel } from '@app/orders-domain';
import type { OrderView } from '@app/read-models';

import { MINOR_AMOUNT_SCHEMA, toMinorAmount, type MinorAmount } from '../shared/minor-amount.js';

export class OrderLineResponse {
  @ApiProperty({ example: 'BOOK-1' })
  readonly sku!: string;

  @ApiProperty({ example: 2 })
  readonly quantity!: number;

  @ApiProperty({ description: 'Price of one unit in minor units.', example: 1250 })
  readonly unitPriceMinor!: number;
}

/** The order as clients read it; field names are part of the HTTP contract. */
export class OrderResponse {
  @ApiProperty({ format: 'uuid' })
  readonly orderId!: string;

  @ApiProperty({ example: 'customer-1' })
  readonly customerId!: string;

  @ApiProperty({ enum: ORDER_STATUSES })
  readonly status!: string;

  @ApiProperty({ description: 'ISO 4217 code', example: 'EUR' })
  readonly currency!: string;

  @ApiProperty({ type: [OrderLineResponse] })
  readonly lines!: readonly OrderLineResponse[];

  @ApiProperty({ ...MINOR_AMOUNT_SCHEMA, description: `Total of the lines. ${MINOR_AMOUNT_SCHEMA.description}` })
  readonly totalMinor!: MinorAmount;

  @ApiProperty({ description: 'The order version this view reflects (also the ETag).', example: 1 })
  readonly version!: number;

  @ApiProperty({ format: 'date-time' })
  readonly placedAt!: string;

  @ApiProperty({ format: 'date-time', nullable: true, type: 'string' })
  readonly confirmedAt!: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: 'string' })
  readonly shippedAt!: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: 'string' })
  readonly deliveredAt!: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: 'string' })
  readonly cancelledAt!: string | null;

  @ApiProperty({ format: 'date-time' })
  readonly updatedAt!: string;

  @ApiProperty({ nullable: true, type: 'string' })
  readonly paymentReference!: string | null;

  @ApiProperty({ nullable: true, type: 'string' })
  readonly carrier!: string | null;

  @ApiProperty({ nullable: true, type: 'string' })
  readonly trackingNumber!: string | null;

  @ApiProperty({ nullable: true, type: 'string' })
  readonly cancelReason!: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: 'string' })
  readonly returnedAt!: string | null;

  @ApiProperty({ nullable: true, type: 'string' })
  readonly returnReason!: string | null;

  @ApiProperty({ enum: ORDER_CHANNELS, description: 'where the order was placed' })
  readonly channel!: OrderChannel;
}

/** A new column of the read model fails typecheck here until the response carries it (and OpenAPI shows it). */
type Unanswered = Exclude<keyof OrderView, keyof OrderResponse>;
export const everyColumnIsAnswered: [Unanswered] extends [never] ? true : `OrderResponse lacks ${Unanswered}` = true;

export function toOrderResponse(view: OrderView): OrderResponse {
  return {
    orderId: view.orderId,
    customerId: view.customerId,
    status: view.status,
    currency: view.currency,
    lines: view.lines,
    totalMinor: toMinorAmount(view.totalMinor),
    version: view.version,
    placedAt: view.placedAt.toISOString(),
    confirmedAt: view.confirmedAt?.toISOString() ?? null,
    shippedAt: view.shippedAt?.toISOString() ?? null,
    deliveredAt: view.deliveredAt?.toISOString() ?? null,
    cancelledAt: view.cancelledAt?.toISOString() ?? null,
    updatedAt: view.updatedAt.toISOString(),
    paymentReference: view.paymentReference,
    carrier: view.carrier,
    trackingNumber: view.trackingNumber,
    cancelReason: view.cancelReason,
    returnedAt: view.returnedAt?.toISOString() ?? null,
    returnReason: view.returnReason,
    channel: view.channel,
  };
}
