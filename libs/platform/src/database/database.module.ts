import { Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type MixedList, type EntitySchema } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { PipelinedSql, type PipelinedSqlOptions } from './pipelined-sql.js';

/**
 * Which database a process works on: `write`, the event store and outbox (`DATABASE_URL`); `read`,
 * the read models and projection bookkeeping (`READ_DATABASE_URL`). Each app works on one side only,
 * so each keeps one pool, and nothing it runs can join across the two.
 */
export type DatabaseSide = 'write' | 'read';

export function databaseUrlOf(config: AppConfig, side: DatabaseSide): string {
  return side === 'write' ? config.databaseUrl : config.readDatabaseUrl;
}

export interface DatabaseModuleOptions {
  readonly side: DatabaseSide;
  /** TypeORM entities this process reads through repositories. */
  readonly entities?: MixedList<Function | string | EntitySchema>;
  /** Connection pool size for this process. */
  readonly poolSize?: number;
  readonly applicationName: string;
  /** How the pipelined connections plan their statements (KEY_LOOKUP_PLANS for a pool of key lookups). Default: Postgres'. */
  readonly pipelinedPlans?: Pick<PipelinedSqlOptions, 'planCacheMode' | 'replanEveryMs'>;
}

/** The one way this project opens Postgres through TypeORM: schema from migrations only, never synchronised. */
export function createDataSource(
  databaseUrl: string,
  options: Omit<DatabaseModuleOptions, 'side'>,
): Promise<DataSource> {
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
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(PipelinedSql) private readonly sql: PipelinedSql,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.sql.close();
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * One TypeORM DataSource per process, on its side's database, and pipelined connections
 * (PipelinedSql, opened on first use) for the hot paths: commands, `GET /orders/:id` and its
 * `minVersion` waits (the worker's live projections have a pool of their own). Two pools of up to
 * `poolSize` each: size Postgres' `max_connections` for both. The schema comes from migrations only
 * (`npm run db:migrate`); this module never synchronises it.
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
          useFactory: (config: AppConfig) => createDataSource(databaseUrlOf(config, options.side), options),
        },
        {
          provide: PipelinedSql,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) =>
            new PipelinedSql(databaseUrlOf(config, options.side), {
              max: options.poolSize ?? 10,
              applicationName: options.applicationName,
              ...options.pipelinedPlans,
            }),
        },
        DataSourceCloser,
      ],
      exports: [DataSource, PipelinedSql],
    };
  }
}
