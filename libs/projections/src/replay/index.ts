export * from './stream-replay.js';
export * from './projection-rebuilder.js';
export * from './rebuild-owner.js';
export * from './rebuild-records.js';
export * from './replay-progress.js';
export * from './projection-status.js';
