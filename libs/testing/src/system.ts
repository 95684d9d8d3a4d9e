import { CommandApiModule, setupOpenApi } from '@app/command-api';
import type { AppConfig } from '@app/platform';
import { ProjectionWorkerModule, attachProjectionsTransport } from '@app/projection-worker';
import { QueryApiModule, setupQueryApiOpenApi } from '@app/query-api';

import { startTestApp, type TestApp } from './test-app.js';

/** The three apps in-process on one test environment: the whole system, for end-to-end tests. */
export interface RunningSystem {
  readonly commandApi: TestApp;
  readonly worker: TestApp;
  readonly queryApi: TestApp;
  close(): Promise<void>;
}

export async function startSystem(config: AppConfig): Promise<RunningSystem> {
  const [commandApi, worker, queryApi] = await Promise.all([
    startTestApp(CommandApiModule, config, setupOpenApi),
    startTestApp(ProjectionWorkerModule, config, async (app) => {
      attachProjectionsTransport(app);
      await app.startAllMicroservices();
    }),
    startTestApp(QueryApiModule, config, setupQueryApiOpenApi),
  ]);
  return {
    commandApi,
    worker,
    queryApi,
    close: async () => {
      await Promise.all([commandApi.close(), worker.close(), queryApi.close()]);
    },
  };
}
