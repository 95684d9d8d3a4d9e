import {
  Controller,
  Get,
  Inject,
  Module,
  ServiceUnavailableException,
  type DynamicModule,
  type Provider,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { DataSource } from 'typeorm';

/**
 * One dependency that must answer for the process to be ready. It may answer and still be
 * `degraded` (say, a topic weaker than configured): ready, with the reason shown.
 */
export interface HealthCheck {
  readonly name: string;
  check(): Promise<void>;
  /** Why it runs below what is configured although it answers, or undefined. */
  degraded?(): string | undefined;
}

export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

const CHECK_TIMEOUT_MS = 2_000;

/** Operational, not part of an API's contract: left out of OpenAPI documents. */
@ApiExcludeController()
@Controller('health')
export class HealthController {
  constructor(@Inject(HEALTH_CHECKS) private readonly checks: readonly HealthCheck[]) {}

  /** Alive: the event loop answers. Never touches dependencies, so a slow database restarts nothing. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Ready: every dependency answers within a short timeout. 503 otherwise, naming the failing ones.
   * 200 `degraded` when all answer but one says it runs below what is configured, naming why.
   */
  @Get('ready')
  async ready(): Promise<{ status: 'ok' | 'degraded'; checks: Record<string, string> }> {
    const results = await Promise.all(
      this.checks.map(async (dependency): Promise<readonly [string, string]> => {
        try {
          await withTimeout(dependency.check(), CHECK_TIMEOUT_MS);
          const degraded = dependency.degraded?.();
          return [dependency.name, degraded === undefined ? 'up' : `degraded: ${degraded}`];
        } catch (error) {
          return [dependency.name, `down: ${error instanceof Error ? error.message : String(error)}`];
        }
      }),
    );
    const checks = Object.fromEntries(results);
    if (results.some(([, state]) => state.startsWith('down'))) {
      throw new ServiceUnavailableException({ status: 'unavailable', checks });
    }
    return { status: results.some(([, state]) => state !== 'up') ? 'degraded' : 'ok', checks };
  }
}

export function postgresHealthCheck(dataSource: DataSource): HealthCheck {
  return {
    name: 'postgres',
    check: async () => {
      await dataSource.query('SELECT 1');
    },
  };
}

@Module({})
export class HealthModule {
  /** `checks` is a provider of HEALTH_CHECKS built from this process's own dependencies. */
  static withChecks(checks: Omit<Extract<Provider, { useFactory: unknown }>, 'provide'>): DynamicModule {
    return {
      module: HealthModule,
      controllers: [HealthController],
      providers: [{ ...checks, provide: HEALTH_CHECKS }],
    };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
