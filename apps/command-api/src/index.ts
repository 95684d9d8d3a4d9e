export { CommandApiModule } from './command-api.module.js';
export { buildOpenApiDocument as buildCommandApiDocument, setupOpenApi } from './openapi.js';
