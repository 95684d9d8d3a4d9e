import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';

import { OrderView } from './order-view.entity.js';

@Injectable()
export class OrderViewQueries {
  private readonly orders: Repository<OrderView>;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.orders = dataSource.getRepository(OrderView);
  }

  findById(orderId: string): Promise<OrderView | null> {
    return this.orders.findOneBy({ orderId });
  }
}
