import type pg from 'pg';

/**
 * Appends `orders` synthetic orders to the event store in one statement, four events each (placed,
 * a line added, confirmed, shipped), queued in the outbox like any append: the relay publishes them
 * and the projections apply them. Far faster than commands over HTTP, for scenarios that need a log
 * of some size; unlike `npm run seed:log` the store and the log stay one, so the oracle still holds.
 * Returns the number of events. The in-process relay's outbox only: an environment that seeds pins `relay: 'in-process'`.
 */
export async function seedEventStore(db: pg.Pool, orders: number, { customers = 500 } = {}): Promise<number> {
  const { rowCount } = await db.query(
    `WITH seeded AS (
       SELECT i, gen_random_uuid() AS order_id FROM generate_series(1, $1::int) AS i
     ), events AS (
       SELECT s.i, s.order_id, e.version, e.type, e.data,
              timestamptz '2026-01-01 00:00:00+00' + s.i * interval '1 second' + e.version * interval '10 milliseconds' AS at
         FROM seeded s CROSS JOIN LATERAL (VALUES
           (1, 'OrderPlaced', jsonb_build_object(
             'customerId', 'seeded-customer-' || (s.i % $2::int),
             'currency', (ARRAY['EUR', 'USD', 'GBP'])[s.i % 3 + 1],
             'lines', jsonb_build_array(
               jsonb_build_object('sku', 'SKU-A', 'quantity', 1 + s.i % 4, 'unitPriceMinor', 100 + s.i % 5000),
               jsonb_build_object('sku', 'SKU-B', 'quantity', 1, 'unitPriceMinor', 990)))),
           (2, 'OrderLineAdded', jsonb_build_object('line', jsonb_build_object('sku', 'SKU-C', 'quantity', 2, 'unitPriceMinor', 250))),
           (3, 'OrderConfirmed', jsonb_build_object('paymentReference', 'pay-' || s.i)),
           (4, 'OrderShipped', jsonb_build_object('carrier', 'DHL', 'trackingNumber', 'T-' || s.i))
         ) AS e(version, type, data)
     ), appended AS (
       INSERT INTO events (event_id, order_id, version, type, schema_version, data, metadata, occurred_at)
       SELECT gen_random_uuid(), order_id, version, type, 1, data, '{"correlationId": "seed", "causationId": "seed"}', at
         FROM events ORDER BY i, version
       RETURNING position
     )
     INSERT INTO outbox (position) SELECT position FROM appended`,
    [orders, customers],
  );
  return rowCount ?? 0;
}
