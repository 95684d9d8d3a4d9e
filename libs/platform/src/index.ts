export * from './config/app-config.js';
export * from './config/config.module.js';
export * from './database/database.module.js';
export * from './database/prepare-database.js';
export * from './health/health.js';
export * from './runtime/clock.js';
export * from './http/configure-http-app.js';
