import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';

import { readOutboxBacklog, type OutboxBacklog } from '@app/event-store';
import { ADMIN_BEARER, AdminTokenGuard, ErrorResponse } from '@app/platform';

export class OutboxBacklogResponse implements OutboxBacklog {
  @ApiProperty({ type: 'integer', description: 'Committed events the relay has not published yet.' })
  readonly backlogEvents!: number;

  @ApiProperty({ description: 'Seconds since the oldest of them occurred; 0 when nothing waits.' })
  readonly oldestEventAgeSeconds!: number;
}

/**
 * The outbox backlog, from the side that owns the outbox. The query API's operations page reads it
 * through the query API's own GET /admin/outbox, which asks here. Bearer ADMIN_TOKEN.
 */
@Controller('admin/outbox')
@UseGuards(AdminTokenGuard)
@ApiTags('admin')
@ApiBearerAuth(ADMIN_BEARER)
export class OutboxController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get()
  @ApiOperation({
    operationId: 'getOutboxBacklog',
    summary: 'Committed events not yet published to Kafka, and the age of the oldest',
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
    return readOutboxBacklog(this.dataSource);
  }
}
