export * from './decide.js';
export * from './order.js';
