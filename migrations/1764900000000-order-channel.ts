import type { MigrationInterface, QueryRunner } from 'typeorm';

import { alterProjectionTable } from '@app/projections';

/**
 * OrderPlaced v2 carries the channel an order came through, and the order view shows it. Every order
 * placed before was placed with v1, which upcasts to `web`: the default fills the existing rows with
 * exactly what a rebuild would, so no rebuild is needed.
 */
export class OrderChannel1764900000000 implements MigrationInterface {
  name = 'OrderChannel1764900000000';

  async up(db: QueryRunner): Promise<void> {
    await alterProjectionTable(db, {
      projection: 'order-view',
      table: 'order_view',
      alter: `ADD COLUMN channel text NOT NULL DEFAULT 'web'`,
    });
  }

  async down(db: QueryRunner): Promise<void> {
    await alterProjectionTable(db, { projection: 'order-view', table: 'order_view', alter: 'DROP COLUMN channel' });
  }
}
