export * from './builders.js';
export * from './decider-specification.js';
export * from './eventually.js';
export * from './kafka-reader.js';
export * from './order-load.js';
export * from './read-model-oracle.js';
export * from './test-app.js';
export * from './test-environment.js';
