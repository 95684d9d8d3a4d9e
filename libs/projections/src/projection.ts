import type { EntityManager } from 'typeorm';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEventType } from '@app/orders-domain';

/**
 * A projection is a value: what it is called, which events it reads, how it applies a batch of them,
 * and which tables it owns. Bumping `version` asks for a rebuild: the worker rebuilds a projection
 * whose live generation an older version built. `tables` are what a rebuild's new generation holds,
 * each served to readers as a public view of the live generation.
 */
export interface Projection {
  readonly name: string;
  readonly version: number;
  readonly handles: readonly OrderEventType[];
  readonly tables: readonly string[];
  /**
   * Applies events (in log order, only types it handles) inside the caller's transaction. Must be
   * idempotent per row: an event at or below the version a row reflects changes nothing.
   */
  apply(db: EntityManager, events: readonly EventEnvelope[]): Promise<void>;
  /**
   * Removes what the projection holds for one order, so that its events can be applied again (a
   * single-order replay). Only projections whose rows each reflect one order have it; a row that sums
   * many orders cannot be repaired from one order's events, so those projections are rebuilt whole.
   */
  forgetOrder?(db: EntityManager, orderId: string): Promise<void>;
}
