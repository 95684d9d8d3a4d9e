export * from './decide.js';
export * from './order-events.js';
export * from './order.js';
