import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { DataSource } from 'typeorm';

import { readRelayBacklog, type CaptureSlotBacklog, type OutboxBacklog } from '@app/event-store';
import { ADMIN_BEARER, APP_CONFIG, AdminTokenGuard, ErrorResponse, nullableRef, type AppConfig } from '@app/platform';

export class CaptureSlotBacklogResponse implements CaptureSlotBacklog {
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
      'Write-ahead log the slot holds and the connector has not confirmed: what it has still to publish, in bytes of log. Null when the slot is missing.',
  })
  readonly lagBytes!: number | null;
}

export class OutboxBacklogResponse {
  @ApiProperty({
    enum: ['in-process', 'debezium'],
    description: "Who publishes committed events (OUTBOX_RELAY): the command API's relay, or Debezium.",
  })
  readonly relay!: OutboxBacklog['relay'];

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description:
      'Committed events the in-process relay has not published yet. Null under Debezium, whose backlog is the log its slot holds (captureSlot).',
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

/**
 * The outbox backlog, from the side that owns the outbox. The query API's operations page reads it
 * through the query API's own GET /admin/outbox, which asks here. Bearer ADMIN_TOKEN.
 */
@Controller('admin/outbox')
@UseGuards(AdminTokenGuard)
@ApiTags('admin')
@ApiBearerAuth(ADMIN_BEARER)
@ApiExtraModels(CaptureSlotBacklogResponse) // referenced where it may be null
export class OutboxController {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'getOutboxBacklog',
    summary: 'What is committed and not yet published to Kafka, as the relay in use can tell',
  })
  @ApiOkResponse({ type: OutboxBacklogResponse })
  @ApiResponse({
    status: 401,
    type: ErrorResponse,
    description:
      'No valid admin token: none, a wrong one, more than one Authorization header, or ADMIN_TOKEN not set on the server.',
    headers: { 'WWW-Authenticate': { description: 'Bearer realm="admin"', schema: { type: 'string' } } },
  })
  backlog(): Promise<OutboxBacklog> {
    return readRelayBacklog(this.dataSource, this.config.relay);
  }
}
