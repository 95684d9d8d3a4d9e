export * from './aggregate-projection.js';
export * from './columns.js';
export * from './event-handlers.js';
export * from './stream-row-projection.js';
export * from './stream-table.js';
export * from './migrations.js';
export * from './single-pass-check.js';
