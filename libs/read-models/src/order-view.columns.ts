import type { OrderView } from './order-view.entity.js';

/** Each property of the entity and the SQL that reads it: a new field fails typecheck here until it is read. */
const ORDER_VIEW_SELECT = {
  orderId: 'order_id',
  customerId: 'customer_id',
  status: 'status',
  currency: 'currency',
  lines: 'lines',
  totalMinor: 'total_minor::text',
  version: 'version',
  placedAt: 'placed_at',
  confirmedAt: 'confirmed_at',
  shippedAt: 'shipped_at',
  deliveredAt: 'delivered_at',
  cancelledAt: 'cancelled_at',
  updatedAt: 'updated_at',
  paymentReference: 'payment_reference',
  carrier: 'carrier',
  trackingNumber: 'tracking_number',
  cancelReason: 'cancel_reason',
  returnedAt: 'returned_at',
  returnReason: 'return_reason',
  channel: 'channel',
} satisfies Record<keyof OrderView, string>;

/** The select list of a whole order view, aliased to the entity's properties. */
export const ORDER_VIEW_COLUMNS = Object.entries(ORDER_VIEW_SELECT)
  .map(([property, sql]) => `${sql} AS "${property}"`)
  .join(', ');
