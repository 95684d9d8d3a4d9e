import { Controller, Get, Inject, Logger, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';

import { ADMIN_BEARER, APP_CONFIG, AdminTokenGuard, ErrorResponse, nullableRef, type AppConfig } from '@app/platform';

import { AdminUnauthorized } from './admin-unauthorized.js';

/** Debezium's replication slot, as the command API reports it. */
export class CaptureSlotBacklogResponse {
  @ApiProperty({ description: "The connector's replication slot (OUTBOX_CAPTURE_SLOT)." })
  readonly name!: string;

  @ApiProperty({ description: 'Whether the slot exists: without it, nothing committed is captured.' })
  readonly present!: boolean;

  @ApiProperty({ description: 'Whether a connector reads the slot now.' })
  readonly active!: boolean;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description:
      'Write-ahead log the slot holds and the connector has not confirmed, in bytes. Null when the slot is missing.',
  })
  readonly lagBytes!: number | null;
}

/** The command API's answer, passed on once it has this shape. */
export class OutboxBacklogResponse {
  @ApiProperty({ enum: ['in-process', 'debezium'], description: 'Who publishes committed events (OUTBOX_RELAY).' })
  readonly relay!: 'in-process' | 'debezium';

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Committed events the in-process relay has not published yet. Null under Debezium (see captureSlot).',
  })
  readonly backlogEvents!: number | null;

  @ApiProperty({
    type: 'number',
    nullable: true,
    description: 'Seconds since the oldest of them occurred; 0 when nothing waits. Null under Debezium.',
  })
  readonly oldestEventAgeSeconds!: number | null;

  @ApiProperty({ ...nullableRef(CaptureSlotBacklogResponse), description: 'Under Debezium, its slot; null otherwise.' })
  readonly captureSlot!: CaptureSlotBacklogResponse | null;
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
@ApiExtraModels(CaptureSlotBacklogResponse) // referenced where it may be null
export class OutboxController {
  private readonly logger = new Logger('Admin');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  @ApiOperation({
    operationId: 'getOutboxBacklog',
    summary: 'What is committed and not yet published to Kafka, as the command API reports it',
  })
  @ApiOkResponse({ type: OutboxBacklogResponse })
  @ApiResponse({
    status: 503,
    type: ErrorResponse,
    description: 'The command API did not answer in time, or answered otherwise than 200 (COMMAND_API_UNAVAILABLE).',
  })
  async backlog(): Promise<OutboxBacklogResponse> {
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

/** The command API's answer, checked field by field: anything else is not passed on as a backlog. */
function toBacklog(body: unknown): OutboxBacklogResponse {
  const { relay, backlogEvents, oldestEventAgeSeconds, captureSlot } = (body ?? {}) as Record<string, unknown>;
  // A command API from before `relay` and `captureSlot` (a rolling upgrade) answers the in-process shape without them.
  const inProcess = relay === undefined ? captureSlot === undefined : relay === 'in-process' && captureSlot === null;
  if (inProcess && Number.isSafeInteger(backlogEvents) && typeof oldestEventAgeSeconds === 'number') {
    return { relay: 'in-process', backlogEvents: backlogEvents as number, oldestEventAgeSeconds, captureSlot: null };
  }
  const slot = toCaptureSlot(captureSlot);
  if (relay === 'debezium' && backlogEvents === null && oldestEventAgeSeconds === null && slot !== undefined) {
    return { relay, backlogEvents: null, oldestEventAgeSeconds: null, captureSlot: slot };
  }
  throw new Error('answered a body that is not an outbox backlog');
}

function toCaptureSlot(body: unknown): CaptureSlotBacklogResponse | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { name, present, active, lagBytes } = body as Record<string, unknown>;
  const valid =
    typeof name === 'string' &&
    typeof present === 'boolean' &&
    typeof active === 'boolean' &&
    (lagBytes === null || Number.isSafeInteger(lagBytes));
  return valid ? { name, present, active, lagBytes: lagBytes as number | null } : undefined;
}
