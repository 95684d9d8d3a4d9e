import { Controller, Get, Inject, NotFoundException, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiResponse } from '@nestjs/swagger';

import { ErrorResponse } from '@app/platform';
import { CustomerSummaryQueries } from '@app/read-models';

import { AMOUNTS_BY_CURRENCY_SCHEMA, toMinorAmount, type MinorAmount } from '../shared/minor-amount.js';

export class CustomerResponse {
  @ApiProperty({ example: 'customer-1' })
  readonly customerId!: string;

  @ApiProperty({ example: 3 })
  readonly orderCount!: number;

  @ApiProperty({
    ...AMOUNTS_BY_CURRENCY_SCHEMA,
    description: `Totals of the customer's orders that are not cancelled, per ISO 4217 currency. ${AMOUNTS_BY_CURRENCY_SCHEMA.additionalProperties.description}`,
  })
  readonly totalsByCurrency!: Readonly<Record<string, MinorAmount>>;

  @ApiProperty({ format: 'uuid', nullable: true, type: 'string' })
  readonly lastOrderId!: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: 'string' })
  readonly lastOrderAt!: string | null;
}

@Controller('customers')
export class GetCustomerController {
  constructor(@Inject(CustomerSummaryQueries) private readonly customers: CustomerSummaryQueries) {}

  @Get(':id')
  @ApiOperation({ operationId: 'getCustomer', summary: "A customer's order count and totals per currency" })
  @ApiOkResponse({ type: CustomerResponse })
  @ApiResponse({
    status: 404,
    type: ErrorResponse,
    description: 'No orders are known for this customer: CUSTOMER_NOT_FOUND.',
  })
  async getCustomer(@Param('id') customerId: string): Promise<CustomerResponse> {
    const summary = customerId.length <= 128 ? await this.customers.findById(customerId) : null;
    if (!summary) {
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        code: 'CUSTOMER_NOT_FOUND',
        message: 'no orders are known for this customer',
      });
    }
    return {
      customerId: summary.customerId,
      orderCount: summary.orderCount,
      totalsByCurrency: Object.fromEntries(
        Object.entries(summary.totalsByCurrency).map(([currency, amount]) => [currency, toMinorAmount(amount)]),
      ),
      lastOrderId: summary.lastOrderId,
      lastOrderAt: summary.lastOrderAt?.toISOString() ?? null,
    };
  }
}
