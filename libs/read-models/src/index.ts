export * from './order-view.entity.js';
export * from './order-view.queries.js';

import { OrderView } from './order-view.entity.js';

/** Every read-model entity, for the DataSource of processes that query them. */
export const readModelEntities = [OrderView];
