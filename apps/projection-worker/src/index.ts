export { ClusterMetrics } from './cluster-metrics.js';
export { ProjectionWorkerModule } from './projection-worker.module.js';
export { PROJECTIONS, ProjectionsTransport } from './projections.transport.js';
export { attachProjectionsTransport } from './start-worker.js';
