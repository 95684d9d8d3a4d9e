export * from './order-view.projection.js';
export * from './projection-runner.js';
export * from './projection.js';

import { orderViewProjection } from './order-view.projection.js';
import type { Projection } from './projection.js';

/** Every projection the worker runs. Add a new one here (see docs/how-to.md). */
export const projections: readonly Projection[] = [orderViewProjection];
