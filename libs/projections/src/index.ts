export * from './customer-summary.projection.js';
export * from './generations.js';
export * from './kit/index.js';
export * from './order-lines.js';
export * from './order-view.projection.js';
export * from './parked-events.js';
export * from './partition-groups.js';
export * from './projection-runner.js';
export * from './projection.js';
export * from './replay/index.js';
export * from './sales.projection.js';
export * from './sequence.js';
export * from './top-skus.projection.js';
export * from './verification/index.js';

import { customerSummaryProjection } from './customer-summary.projection.js';
import { orderViewProjection } from './order-view.projection.js';
import type { Projection } from './projection.js';
import { salesProjection } from './sales.projection.js';
import { topSkusProjection } from './top-skus.projection.js';

/** Every projection the worker runs, each as its own consumer group. Add a new one here (see docs/how-to.md). */
export const projections: readonly Projection[] = [
  orderViewProjection,
  customerSummaryProjection,
  salesProjection,
  topSkusProjection,
];
