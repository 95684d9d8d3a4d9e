import { Controller, Get, Inject, Logger, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';

import { ADMIN_BEARER, APP_CONFIG, AdminTokenGuard, ErrorResponse, type AppConfig } from '@app/platform';

import { AdminUnauthorized } from './admin-unauthorized.js';

/** The command API's answer, passed on as it is. */
export interface OutboxBacklog {
  readonly backlogEvents: number;
  readonly oldestEventAgeSeconds: number;
}

export class OutboxBacklogResponse implements OutboxBacklog {
  @ApiProperty({ type: 'integer', description: 'Committed events the relay has not published yet.' })
  readonly backlogEvents!: number;

  @ApiProperty({ description: 'Seconds since the oldest of them occurred; 0 when nothing waits.' })
  readonly oldestEventAgeSeconds!: number;
}

const ASK_TIMEOUT_MS = 2_000;

/**
 * The outbox backlog for the operations page. The outbox is on the write side, which the query API
 * never reads, so it asks the command API (COMMAND_API_URL, its GET /admin/outbox) with the same
 * admin token. Bearer ADMIN_TOKEN.
 */
@Controller('admin/outbox')
@UseGuards(AdminTokenGuard)
@ApiTags('admin')
@ApiBearerAuth(ADMIN_BEARER)
@AdminUnauthorized()
export class OutboxController {
  private readonly logger = new Logger('Admin');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  @ApiOperation({
    operationId: 'getOutboxBacklog',
    summary: 'Committed events not yet published to Kafka, and the age of the oldest, as the command API reports them',
  })
  @ApiOkResponse({ type: OutboxBacklogResponse })
  @ApiResponse({
    status: 503,
    type: ErrorResponse,
    description: 'The command API did not answer in time, or answered otherwise than 200 (COMMAND_API_UNAVAILABLE).',
  })
  async backlog(): Promise<OutboxBacklog> {
    const url = `${this.config.http.commandApiUrl}/admin/outbox`;
    try {
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${this.config.adminToken ?? ''}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`answered ${String(response.status)}`);
      return toBacklog(await response.json());
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(`outbox backlog: the command API at ${url} ${reason}`);
      throw new ServiceUnavailableException({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'COMMAND_API_UNAVAILABLE',
        message: `the command API at ${this.config.http.commandApiUrl} did not report the outbox backlog`,
      });
    }
  }
}

function toBacklog(body: unknown): OutboxBacklog {
  const { backlogEvents, oldestEventAgeSeconds } = (body ?? {}) as Partial<Record<keyof OutboxBacklog, unknown>>;
  if (!Number.isSafeInteger(backlogEvents) || typeof oldestEventAgeSeconds !== 'number') {
    throw new Error('answered a body that is not an outbox backlog');
  }
  return { backlogEvents: backlogEvents as number, oldestEventAgeSeconds };
}
