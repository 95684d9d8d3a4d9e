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
import {
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
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

/** The ready answer: each dependency's state as one string (`up`, `degraded: <why>`, `down: <error>`). */
export interface ReadyAnswer {
  readonly status: 'ok' | 'degraded';
  readonly checks: Record<string, string>;
}

/**
 * Operational, not part of an API's contract: left out of OpenAPI documents. Terminus runs the
 * checks (each within CHECK_TIMEOUT_MS, side by side) and decides the status; the answer keeps the
 * shape this API has always had, one string per dependency, rather than Terminus's
 * `info`/`error`/`details` objects.
 */
@ApiExcludeController()
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(HEALTH_CHECKS) private readonly checks: readonly HealthCheck[],
  ) {}

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
  async ready(): Promise<ReadyAnswer> {
    let result: HealthCheckResult;
    try {
      result = await this.health.check(this.checks.map((dependency) => () => this.indicate(dependency)));
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      throw new ServiceUnavailableException({
        status: 'unavailable',
        checks: states(error.getResponse() as HealthCheckResult),
      });
    }
    return { status: result.status === 'degraded' ? 'degraded' : 'ok', checks: states(result) };
  }

  private async indicate(dependency: HealthCheck): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(dependency.name);
    const answered = await indicator.attempt(() => dependency.check()).withTimeout(CHECK_TIMEOUT_MS);
    const degraded = answered[dependency.name]?.status === 'up' ? dependency.degraded?.() : undefined;
    return degraded === undefined ? answered : indicator.degraded({ message: degraded });
  }
}

function states(result: HealthCheckResult): Record<string, string> {
  return Object.fromEntries(
    Object.entries(result.details).map(([name, { status, message }]) => [
      name,
      status === 'up' ? 'up' : `${status}: ${typeof message === 'string' ? message : 'no reason given'}`,
    ]),
  );
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
      // Terminus logs each failed check; as one JSON line, like every other log line.
      imports: [TerminusModule.forRoot({ errorLogStyle: 'json' })],
      controllers: [HealthController],
      providers: [{ ...checks, provide: HEALTH_CHECKS }],
    };
  }
}
