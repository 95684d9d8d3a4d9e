import { Controller, Get, Inject, NotFoundException, Param } from '@nestjs/common';

import { CustomerSummaryQueries } from '@app/read-models';

export interface CustomerResponse {
  readonly customerId: string;
  readonly orderCount: number;
  /** Totals of the customer's orders that are not cancelled, in minor units per currency. */
  readonly totalsByCurrency: Readonly<Record<string, number>>;
  readonly lastOrderId: string | null;
  readonly lastOrderAt: string | null;
}

@Controller('customers')
export class GetCustomerController {
  constructor(@Inject(CustomerSummaryQueries) private readonly customers: CustomerSummaryQueries) {}

  @Get(':id')
  async getCustomer(@Param('id') customerId: string): Promise<CustomerResponse> {
    const summary = customerId.length <= 128 ? await this.customers.findById(customerId) : null;
    if (!summary) {
      throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: 'CUSTOMER_NOT_FOUND', message: 'no orders are known for this customer' });
    }
    return {
      customerId: summary.customerId,
      orderCount: summary.orderCount,
      totalsByCurrency: summary.totalsByCurrency,
      lastOrderId: summary.lastOrderId,
      lastOrderAt: summary.lastOrderAt?.toISOString() ?? null,
    };
  }
}
