export * from './batch-consumer.js';
export * from './envelope.js';
export * from './event-publisher.js';
export * from './kafka-connection.js';
export * from './messaging.module.js';
export * from './topic-reader.js';
export * from './topics.js';
