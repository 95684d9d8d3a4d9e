import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';

import { CustomerSummary } from './customer-summary.entity.js';

@Injectable()
export class CustomerSummaryQueries {
  private readonly customers: Repository<CustomerSummary>;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.customers = dataSource.getRepository(CustomerSummary);
  }

  findById(customerId: string): Promise<CustomerSummary | null> {
    return this.customers.findOneBy({ customerId });
  }
}
