export * from './command-handler.js';
export * from './event-store.js';
export * from './event-store.module.js';
export * from './idempotency-key-purger.js';
export * from './idempotency-keys.js';
export * from './outbox-backlog.js';
export * from './outbox-relay.js';
export * from './capture-connector.js';
