import type { MigrationInterface, QueryRunner } from 'typeorm';

import { alterProjectionTable } from '@app/projections';

/** An order can be returned once delivered: the order view shows when and why. */
export class OrderReturns1764700000000 implements MigrationInterface {
  name = 'OrderReturns1764700000000';

  async up(db: QueryRunner): Promise<void> {
    await alterProjectionTable(db, {
      projection: 'order-view',
      table: 'order_view',
      alter: 'ADD COLUMN returned_at timestamptz, ADD COLUMN return_reason text',
    });
  }

  async down(db: QueryRunner): Promise<void> {
    await alterProjectionTable(db, {
      projection: 'order-view',
      table: 'order_view',
      alter: 'DROP COLUMN returned_at, DROP COLUMN return_reason',
    });
  }
}
