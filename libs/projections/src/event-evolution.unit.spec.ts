import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ORDER_EVENTS, type EventEnvelope } from '@app/messaging';
import type { OrderEvent } from '@app/orders-domain';
import { consumedRecordsOf, evolvingLifecycle } from '@app/testing';

import { customerSummary } from './customer-summary.projection.js';
import { foldAggregate, foldRows } from './kit/index.js';
import { orderView } from './order-view.projection.js';
import { sales } from './sales.projection.js';
import { sequenceRecords } from './sequence.js';
import { topSkus } from './top-skus.projection.js';

/**
 * The worked evolution of OrderPlaced (v1 → v2, `channel`): a log that mixes v1 and v2 records,
 * read as the runner reads it (decoded, sequenced, upcast), folds to exactly the rows and deltas of
 * the same log written all in v2 — for every projection.
 */
const ORDERS = 12;
const orderIdOf = (index: number): string => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;

/** As the runner reads a partition: records decoded, sequenced and upcast through the contract. */
function read(log: readonly EventEnvelope[]): EventEnvelope<OrderEvent>[] {
  const sequence = sequenceRecords(consumedRecordsOf(log), {
    versions: new Map(),
    parkedStreams: new Set(),
    contract: ORDER_EVENTS,
    handles: new Set(ORDER_EVENTS.types),
  });
  assert.deepEqual(sequence.parked, []);
  return sequence.next.map((event) => event.envelope as EventEnvelope<OrderEvent>);
}

describe('OrderPlaced v1 and v2 in one log', () => {
  const mixed = read(
    Array.from({ length: ORDERS }, (_, index) =>
      evolvingLifecycle(orderIdOf(index), index, index % 2 === 0 ? 1 : 2),
    ).flat(),
  );
  const allV2 = read(
    Array.from({ length: ORDERS }, (_, index) => evolvingLifecycle(orderIdOf(index), index, 2)).flat(),
  );

  it('reads as the current version only', () => {
    assert.ok(mixed.every((event) => event.schemaVersion === ORDER_EVENTS.currentVersion(event.type)));
    assert.deepEqual(mixed, allV2);
  });

  it('folds to the same order view, every order on the web channel', () => {
    const rows = foldRows(orderView, mixed);
    assert.deepEqual(rows, foldRows(orderView, allV2));
    assert.equal(rows.size, ORDERS);
    assert.ok([...rows.values()].every((row) => row.channel === 'web'));
  });

  it('folds to the same aggregate rows and deltas', () => {
    for (const definition of [customerSummary, sales, topSkus] as const) {
      const fold = (events: EventEnvelope<OrderEvent>[]) =>
        foldAggregate(definition as Parameters<typeof foldAggregate>[0], events);
      assert.deepEqual(fold(mixed), fold(allV2), definition.name);
    }
  });
});
