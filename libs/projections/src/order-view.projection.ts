import type { EntityManager } from 'typeorm';

import type { EventEnvelope } from '@app/messaging';
import { ORDER_EVENT_TYPES, type OrderEvent, type OrderLine } from '@app/orders-domain';
import { ORDER_VIEW_CHANGED_CHANNEL } from '@app/read-models';

import { totalOf, withLine, withoutLine } from './order-lines.js';
import type { Projection } from './projection.js';

/** A row of order_view, named as the table's columns so one JSON array can upsert many rows. */
export interface OrderViewRecord {
  order_id: string;
  customer_id: string;
  status: string;
  currency: string;
  lines: OrderLine[];
  /** Decimal digits, exact (see totalOf): the column is numeric, read and written as text. */
  total_minor: string;
  version: number;
  placed_at: string;
  confirmed_at: string | null;
  shipped_at: string | null;
  delivered_at: string | null;
  cancelled_at: string | null;
  updated_at: string;
  payment_reference: string | null;
  carrier: string | null;
  tracking_number: string | null;
  cancel_reason: string | null;
  /** Events applied to this row; equal to `version` unless an event was applied twice. */
  applied_events: number;
}

const NAME = 'order-view';

export const orderViewProjection: Projection = {
  name: NAME,
  version: 1,
  handles: ORDER_EVENT_TYPES,
  tables: ['order_view'],

  async apply(db: EntityManager, events: readonly EventEnvelope[]): Promise<void> {
    const rows = await loadRows(db, [...new Set(events.map((event) => event.streamId))]);
    const changed = new Set<string>();
    for (const event of events) {
      const current = rows.get(event.streamId);
      const currentVersion = current?.version ?? 0;
      // At or below the row's version: a duplicate delivery, already reflected. Above it by more than
      // one is fine: the runner sequences each order's events, and lets an order step over a version
      // an operator discarded (ADR 6), which counts as applied with no effect.
      if (event.version <= currentVersion) continue;
      rows.set(event.streamId, evolveOrderView(current, event));
      changed.add(event.streamId);
    }
    await upsertRows(
      db,
      [...changed].map((orderId) => rows.get(orderId)).filter((row) => row !== undefined),
    );
  },

  async forgetOrder(db: EntityManager, orderId: string): Promise<void> {
    await db.query('DELETE FROM order_view WHERE order_id = $1', [orderId]);
  },
};

/** The order view after one more event. Pure: time comes from the event, so a rebuild gives the same rows. */
export function evolveOrderView(current: OrderViewRecord | undefined, envelope: EventEnvelope): OrderViewRecord {
  const event = { type: envelope.type, data: envelope.data } as OrderEvent;
  const at = envelope.occurredAt;
  if (event.type === 'OrderPlaced') {
    return withLines(
      {
        order_id: envelope.streamId,
        customer_id: event.data.customerId,
        status: 'PLACED',
        currency: event.data.currency,
        lines: [],
        total_minor: '0',
        version: envelope.version,
        placed_at: at,
        confirmed_at: null,
        shipped_at: null,
        delivered_at: null,
        cancelled_at: null,
        updated_at: at,
        payment_reference: null,
        carrier: null,
        tracking_number: null,
        cancel_reason: null,
        applied_events: 1,
      },
      [...event.data.lines],
    );
  }
  if (!current) throw new Error(`${event.type} for ${envelope.streamId} before OrderPlaced`);
  const next = { ...current, version: envelope.version, updated_at: at, applied_events: current.applied_events + 1 };
  switch (event.type) {
    case 'OrderLineAdded':
      return withLines(next, withLine(current.lines, event.data.line));
    case 'OrderLineRemoved':
      return withLines(next, withoutLine(current.lines, event.data.sku));
    case 'OrderConfirmed':
      return { ...next, status: 'CONFIRMED', confirmed_at: at, payment_reference: event.data.paymentReference };
    case 'OrderShipped':
      return {
        ...next,
        status: 'SHIPPED',
        shipped_at: at,
        carrier: event.data.carrier,
        tracking_number: event.data.trackingNumber,
      };
    case 'OrderDelivered':
      return { ...next, status: 'DELIVERED', delivered_at: at };
    case 'OrderCancelled':
      return { ...next, status: 'CANCELLED', cancelled_at: at, cancel_reason: event.data.reason };
    default: {
      const unhandled: never = event;
      throw new Error(`unknown event ${JSON.stringify(unhandled)}`);
    }
  }
}

function withLines(row: OrderViewRecord, lines: OrderLine[]): OrderViewRecord {
  return {
    ...row,
    lines: lines.map(({ sku, quantity, unitPriceMinor }) => ({ sku, quantity, unitPriceMinor })),
    total_minor: totalOf(lines).toString(),
  };
}

async function loadRows(db: EntityManager, orderIds: readonly string[]): Promise<Map<string, OrderViewRecord>> {
  const rows: OrderViewRecord[] = await db.query(
    `SELECT order_id, customer_id, status, currency, lines, total_minor::text AS total_minor, version,
            to_json(placed_at)#>>'{}' AS placed_at, to_json(confirmed_at)#>>'{}' AS confirmed_at,
            to_json(shipped_at)#>>'{}' AS shipped_at, to_json(delivered_at)#>>'{}' AS delivered_at,
            to_json(cancelled_at)#>>'{}' AS cancelled_at, to_json(updated_at)#>>'{}' AS updated_at,
            payment_reference, carrier, tracking_number, cancel_reason, applied_events
       FROM order_view WHERE order_id = ANY($1::uuid[])`,
    [orderIds],
  );
  return new Map(rows.map((row) => [row.order_id, row]));
}

/**
 * One statement for the whole batch. Each order appears once (folded above), as ON CONFLICT requires.
 * Its NOTIFY, delivered at commit, wakes readers waiting for a version (`?minVersion=`): only when a
 * row changed, and only in the live generation (the one readers see; `search_path` names the one
 * being written), so a rebuild neither wakes readers nor takes NOTIFY's commit lock.
 */
async function upsertRows(db: EntityManager, rows: readonly OrderViewRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await db.query(
    `WITH upserted AS (
     INSERT INTO order_view AS v
     SELECT * FROM jsonb_populate_recordset(NULL::order_view, $1::jsonb)
     ON CONFLICT (order_id) DO UPDATE SET
       customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, currency = EXCLUDED.currency,
       lines = EXCLUDED.lines, total_minor = EXCLUDED.total_minor, version = EXCLUDED.version,
       placed_at = EXCLUDED.placed_at, confirmed_at = EXCLUDED.confirmed_at, shipped_at = EXCLUDED.shipped_at,
       delivered_at = EXCLUDED.delivered_at, cancelled_at = EXCLUDED.cancelled_at, updated_at = EXCLUDED.updated_at,
       payment_reference = EXCLUDED.payment_reference, carrier = EXCLUDED.carrier,
       tracking_number = EXCLUDED.tracking_number, cancel_reason = EXCLUDED.cancel_reason,
       applied_events = EXCLUDED.applied_events
     WHERE v.version < EXCLUDED.version
     RETURNING 1
     )
     SELECT pg_notify('${ORDER_VIEW_CHANGED_CHANNEL}', NULL)
      WHERE EXISTS (SELECT FROM upserted)
        AND current_schema() = (SELECT schema_name FROM projection_generations WHERE projection = $2)`,
    [JSON.stringify(rows), NAME],
  );
}
