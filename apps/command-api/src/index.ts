export { CommandApiModule } from './command-api.module.js';
export { setupOpenApi } from './openapi.js';
