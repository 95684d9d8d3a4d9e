export { formatDifference, type Difference, type VerificationFigures } from './difference.js';
export { contractAmount, type QueryApiCheck } from './query-api-check.js';
export { ProjectionNotLive, VERIFIED_PROJECTION_NAMES, type VerifiedProjection } from './scope.js';
export { withSnapshot } from './snapshot.js';
export { pgSql, type Sql } from './sql.js';
export { verifyReadModels, type VerificationResult, type VerifyOptions } from './verify.js';
