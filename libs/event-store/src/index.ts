export * from './command-handler.js';
export * from './event-store.js';
export * from './event-store.module.js';
export * from './outbox-relay.js';
