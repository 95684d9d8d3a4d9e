import type { INestApplication } from '@nestjs/common';

import { ProjectionsTransport } from './projections.transport.js';

/**
 * The worker is an HTTP app (health, metrics) with the projections transport attached as a Nest
 * microservice; `app.startAllMicroservices()` starts the consumers. Used by main and by tests.
 */
export function attachProjectionsTransport(app: INestApplication): INestApplication {
  app.connectMicroservice({ strategy: app.get(ProjectionsTransport) }, { inheritAppConfig: true });
  return app;
}
