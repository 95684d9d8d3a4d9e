import { Global, Module } from '@nestjs/common';

import { APP_CONFIG, loadConfig } from './app-config.js';

/** Provides the validated configuration under APP_CONFIG; tests override it with their own value. */
@Global()
@Module({
  providers: [{ provide: APP_CONFIG, useFactory: () => loadConfig() }],
  exports: [APP_CONFIG],
})
export class ConfigModule {}
