import { Inject, Injectable } from '@nestjs/common';
import { Between, DataSource, type Repository } from 'typeorm';

import { SalesBucket } from './sales-bucket.entity.js';

@Injectable()
export class SalesQueries {
  private readonly buckets: Repository<SalesBucket>;

  constructor(@Inject(DataSource) dataSource: DataSource) {
    this.buckets = dataSource.getRepository(SalesBucket);
  }

  /** Buckets whose start lies in [from, to), oldest first, one row per currency. */
  async between(granularity: '5m' | '1h', from: Date, to: Date): Promise<SalesBucket[]> {
    const rows = await this.buckets.find({
      where: { granularity, bucketStart: Between(from, to) },
      order: { bucketStart: 'ASC', currency: 'ASC' },
    });
    return rows.filter((row) => row.bucketStart < to);
  }
}
