import type { EntityManager } from 'typeorm';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEvent, OrderLine } from '@app/orders-domain';

import { totalOf, withLine, withoutLine } from './order-lines.js';
import type { Projection } from './projection.js';

/**
 * One customer: how many orders they placed, what their orders that are not cancelled total per
 * currency, and their latest order.
 */
export interface CustomerSummaryRecord {
  customer_id: string;
  order_count: number;
  totals_by_currency: Record<string, number>;
  last_order_id: string;
  last_order_at: string;
}

/** An order's current lines, hence its contribution to its customer's totals. */
export interface CustomerOrderRecord {
  order_id: string;
  customer_id: string;
  currency: string;
  lines: OrderLine[];
  cancelled: boolean;
}

export interface CustomerSummaryState {
  readonly customers: Map<string, CustomerSummaryRecord>;
  readonly orders: Map<string, CustomerOrderRecord>;
}

export const customerSummaryProjection: Projection = {
  name: 'customer-summary',
  version: 1,
  handles: ['OrderPlaced', 'OrderLineAdded', 'OrderLineRemoved', 'OrderCancelled'],
  tables: ['customer_summary', 'customer_summary_orders'],

  async apply(db: EntityManager, events: readonly EventEnvelope[]): Promise<void> {
    const state = await load(db, events);
    const changedOrders = new Set<string>();
    for (const event of events) {
      evolveCustomerSummary(state, event);
      changedOrders.add(event.orderId);
    }
    const changedCustomers = new Set([...changedOrders].map((orderId) => state.orders.get(orderId)?.customer_id ?? ''));
    await save(db, state, changedCustomers, changedOrders);
  },
};

/** Folds one event into the state. Pure: time comes from the event, so a rebuild gives the same rows. */
export function evolveCustomerSummary(state: CustomerSummaryState, envelope: EventEnvelope): void {
  const event = { type: envelope.type, data: envelope.data } as OrderEvent;
  if (event.type === 'OrderPlaced') {
    const { customerId, currency, lines } = event.data;
    const order = { order_id: envelope.orderId, customer_id: customerId, currency, lines: [...lines], cancelled: false };
    state.orders.set(order.order_id, order);
    const customer = state.customers.get(customerId);
    const latest = !customer || isLater(envelope.occurredAt, envelope.orderId, customer.last_order_at, customer.last_order_id);
    state.customers.set(customerId, {
      customer_id: customerId,
      order_count: (customer?.order_count ?? 0) + 1,
      totals_by_currency: plus(customer?.totals_by_currency ?? {}, currency, totalOf(lines)),
      last_order_id: latest ? envelope.orderId : customer.last_order_id,
      last_order_at: latest ? envelope.occurredAt : customer.last_order_at,
    });
    return;
  }
  const order = state.orders.get(envelope.orderId);
  const customer = order && state.customers.get(order.customer_id);
  if (!order || !customer) throw new Error(`${event.type} for ${envelope.orderId} before OrderPlaced`);
  if (order.cancelled) return;
  let next: CustomerOrderRecord;
  switch (event.type) {
    case 'OrderLineAdded':
      next = { ...order, lines: withLine(order.lines, event.data.line) };
      break;
    case 'OrderLineRemoved':
      next = { ...order, lines: withoutLine(order.lines, event.data.sku) };
      break;
    case 'OrderCancelled':
      next = { ...order, lines: [], cancelled: true };
      break;
    default:
      return;
  }
  state.orders.set(order.order_id, next);
  const delta = totalOf(next.lines) - totalOf(order.lines);
  state.customers.set(customer.customer_id, { ...customer, totals_by_currency: plus(customer.totals_by_currency, order.currency, delta) });
}

/** Later by time, then by order id, so ties between orders placed in the same millisecond are stable. */
function isLater(at: string, orderId: string, thanAt: string, thanOrderId: string): boolean {
  const [a, b] = [Date.parse(at), Date.parse(thanAt)];
  return a !== b ? a > b : orderId > thanOrderId;
}

function plus(totals: Record<string, number>, currency: string, amount: number): Record<string, number> {
  return { ...totals, [currency]: (totals[currency] ?? 0) + amount };
}

async function load(db: EntityManager, events: readonly EventEnvelope[]): Promise<CustomerSummaryState> {
  const orderIds = [...new Set(events.map((event) => event.orderId))];
  const orders: CustomerOrderRecord[] = await db.query(
    'SELECT order_id, customer_id, currency, lines, cancelled FROM customer_summary_orders WHERE order_id = ANY($1::uuid[])',
    [orderIds],
  );
  const placedBy = events.flatMap((event) => (event.type === 'OrderPlaced' ? [(event.data as { customerId: string }).customerId] : []));
  const customerIds = [...new Set([...orders.map((order) => order.customer_id), ...placedBy])];
  const customers: CustomerSummaryRecord[] = await db.query(
    `SELECT customer_id, order_count, totals_by_currency, last_order_id, to_json(last_order_at)#>>'{}' AS last_order_at
       FROM customer_summary WHERE customer_id = ANY($1::text[])`,
    [customerIds],
  );
  return {
    orders: new Map(orders.map((order) => [order.order_id, order])),
    customers: new Map(customers.map((customer) => [customer.customer_id, customer])),
  };
}

async function save(db: EntityManager, state: CustomerSummaryState, customerIds: Set<string>, orderIds: Set<string>): Promise<void> {
  const orders = [...orderIds].map((id) => state.orders.get(id)).filter((order) => order !== undefined);
  const customers = [...customerIds].map((id) => state.customers.get(id)).filter((customer) => customer !== undefined);
  await db.query(
    `INSERT INTO customer_summary_orders SELECT * FROM jsonb_populate_recordset(NULL::customer_summary_orders, $1::jsonb)
     ON CONFLICT (order_id) DO UPDATE SET lines = EXCLUDED.lines, cancelled = EXCLUDED.cancelled`,
    [JSON.stringify(orders)],
  );
  await db.query(
    `INSERT INTO customer_summary SELECT * FROM jsonb_populate_recordset(NULL::customer_summary, $1::jsonb)
     ON CONFLICT (customer_id) DO UPDATE SET order_count = EXCLUDED.order_count,
       totals_by_currency = EXCLUDED.totals_by_currency, last_order_id = EXCLUDED.last_order_id, last_order_at = EXCLUDED.last_order_at`,
    [JSON.stringify(customers)],
  );
}
