import { Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type MixedList, type EntitySchema } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

export interface DatabaseModuleOptions {
  /** TypeORM entities this process reads through repositories. */
  readonly entities?: MixedList<Function | string | EntitySchema>;
  /** Connection pool size for this process. */
  readonly poolSize?: number;
  readonly applicationName: string;
}

/** The one way this project opens Postgres through TypeORM: schema from migrations only, never synchronised. */
export function createDataSource(databaseUrl: string, options: DatabaseModuleOptions): Promise<DataSource> {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    applicationName: options.applicationName,
    entities: options.entities ?? [],
    synchronize: false,
    migrationsRun: false,
    poolSize: options.poolSize ?? 10,
    logging: ['error'],
  }).initialize();
}

@Injectable()
class DataSourceCloser implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * One TypeORM DataSource per process. The schema comes from migrations only (`npm run db:migrate`);
 * this module never synchronises it.
 */
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseModuleOptions): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [
        {
          provide: DataSource,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => createDataSource(config.databaseUrl, options),
        },
        DataSourceCloser,
      ],
      exports: [DataSource],
    };
  }
}
