export * from './customer-summary.entity.js';
export * from './customer-summary.queries.js';
export * from './order-view.entity.js';
export * from './order-version-waits.js';
export * from './order-view.queries.js';
export * from './sales-bucket.entity.js';
export * from './sales.queries.js';

import { CustomerSummary } from './customer-summary.entity.js';
import { OrderView } from './order-view.entity.js';
import { SalesBucket } from './sales-bucket.entity.js';

/** Every read-model entity, for the DataSource of processes that query them. */
export const readModelEntities = [OrderView, CustomerSummary, SalesBucket];
