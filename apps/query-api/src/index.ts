export { QueryApiModule } from './query-api.module.js';
export { setupOpenApi as setupQueryApiOpenApi } from './openapi.js';
