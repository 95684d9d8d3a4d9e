import { EventStoreAndOrderView1764000000000 } from './1764000000000-event-store-and-order-view.js';
import { IdempotencyKeys1764100000000 } from './1764100000000-idempotency-keys.js';
import { ReadSide1764200000000 } from './1764200000000-read-side.js';
import { ProjectionGenerations1764300000000 } from './1764300000000-projection-generations.js';
import { ProjectionDecisions1764400000000 } from './1764400000000-projection-decisions.js';
import { ExactAmounts1764500000000 } from './1764500000000-exact-amounts.js';
import { ProjectionKit1764600000000 } from './1764600000000-projection-kit.js';
import { OrderReturns1764700000000 } from './1764700000000-order-returns.js';
import { TopSkus1764800000000 } from './1764800000000-top-skus.js';
import { OrderChannel1764900000000 } from './1764900000000-order-channel.js';
import { OutboxCapture1765000000000 } from './1765000000000-outbox-capture.js';

/** Every migration, in order. Add new ones at the end; never edit one that has been released. */
export const migrations = [
  EventStoreAndOrderView1764000000000,
  IdempotencyKeys1764100000000,
  ReadSide1764200000000,
  ProjectionGenerations1764300000000,
  ProjectionDecisions1764400000000,
  ExactAmounts1764500000000,
  ProjectionKit1764600000000,
  OrderReturns1764700000000,
  TopSkus1764800000000,
  OrderChannel1764900000000,
  OutboxCapture1765000000000,
];
