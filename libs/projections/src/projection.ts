import type { EntityManager } from 'typeorm';

import type { EventEnvelope } from '@app/messaging';
import type { OrderEventType } from '@app/orders-domain';

/**
 * A projection is a value: what it is called, which events it reads, how it applies a batch of them,
 * and which tables it owns. `version` and `tables` are for rebuilds (the replay module): bumping the
 * version will mean "rebuild this projection".
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
}
