import type { MigrationInterface, QueryRunner } from 'typeorm';

import { createProjectionGeneration, dropProjection } from '@app/projections';

/** The top-skus projection's first generation; the worker fills it from offset zero. */
export class TopSkus1764800000000 implements MigrationInterface {
  name = 'TopSkus1764800000000';

  async up(db: QueryRunner): Promise<void> {
    await createProjectionGeneration(db, {
      projection: 'top-skus',
      tables: {
        top_skus: `
          hour                timestamptz NOT NULL,
          sku                 text        NOT NULL,
          quantity            numeric     NOT NULL,
          revenue_by_currency jsonb       NOT NULL,
          PRIMARY KEY (hour, sku)`,
        top_skus_orders: `
          order_id   uuid        PRIMARY KEY,
          currency   char(3)     NOT NULL,
          lines      jsonb       NOT NULL,
          counted_in timestamptz,
          version    integer     NOT NULL`,
      },
    });
  }

  async down(db: QueryRunner): Promise<void> {
    await dropProjection(db, 'top-skus', ['top_skus', 'top_skus_orders']);
  }
}
