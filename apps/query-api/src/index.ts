export { QueryApiModule } from './query-api.module.js';
export { buildOpenApiDocument as buildQueryApiDocument, setupOpenApi as setupQueryApiOpenApi } from './openapi.js';
