import {
  ConflictException,
  Controller,
  Get,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  Param,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Matches } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';

import { TopicOffsets } from '@app/messaging';
import { ADMIN_BEARER, APP_CONFIG, AdminTokenGuard, ErrorResponse, type AppConfig } from '@app/platform';
import {
  RebuildAlreadyActive,
  RebuildRecords,
  projectionStatuses,
  type Projection,
  type ProjectionStatus,
  type RebuildRecord,
} from '@app/projections';

import { AdminUnauthorized } from './admin-unauthorized.js';
import {
  ProjectionListResponse,
  RebuildConflictResponse,
  RebuildProgressResponse,
  RebuildRecordResponse,
  RebuildResponse as RebuildResponseBody,
} from './admin.responses.js';
import { PROJECTIONS } from './admin.tokens.js';

const NAME_PARAM = ApiParam({
  name: 'name',
  schema: { type: 'string', pattern: '^[a-z0-9-]{1,64}$' },
  example: 'order-view',
});
const ID_PARAM = ApiParam({
  name: 'id',
  schema: { type: 'string', pattern: '^[0-9]{1,18}$' },
  description: 'The id of a rebuild.',
});
const UNKNOWN = (what: string) =>
  ApiResponse({
    status: 404,
    type: ErrorResponse,
    description: `No such ${what} (UNKNOWN_PROJECTION, REBUILD_NOT_FOUND).`,
  });

export class ProjectionParams {
  @Matches(/^[a-z0-9-]{1,64}$/, { message: 'name must be a projection name (lowercase letters, digits and dashes)' })
  name!: string;
}

export class RebuildParams extends ProjectionParams {
  @Matches(/^\d{1,18}$/, { message: 'id must be the numeric id of a rebuild' })
  id!: string;
}

export interface RebuildResponse {
  readonly rebuild: RebuildRecord;
  readonly statusUrl: string;
}

/**
 * Projections and their rebuilds. A rebuild asked for here is recorded as requested and run by a
 * projection worker (the process that owns projection writes); its status URL shows its progress.
 * Bearer ADMIN_TOKEN; every call is logged by the guard, and each rebuild records who asked.
 */
@Controller('admin/projections')
@UseGuards(AdminTokenGuard)
@ApiTags('admin')
@ApiBearerAuth(ADMIN_BEARER)
@AdminUnauthorized()
@ApiExtraModels(RebuildRecordResponse, RebuildProgressResponse) // referenced where they may be null
export class ProjectionsController {
  private readonly logger = new Logger('Admin');
  private readonly records: RebuildRecords;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(TopicOffsets) private readonly offsets: TopicOffsets,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROJECTIONS) private readonly projections: readonly Projection[],
  ) {
    this.records = new RebuildRecords(dataSource);
  }

  @Get()
  @ApiOperation({
    operationId: 'listProjections',
    summary: 'Each projection: its live generation, state, offsets and lag per partition, parked events, last rebuild',
  })
  @ApiOkResponse({ type: ProjectionListResponse })
  async list(): Promise<{ items: ProjectionStatus[] }> {
    const topic = this.config.kafka.ordersTopic;
    // Lag needs the broker; without it the rest still answers, with lag null.
    const logEnd = await this.offsets.logEnd(topic).catch(() => undefined);
    return { items: await projectionStatuses(this.dataSource, this.projections, topic, logEnd) };
  }

  @Post(':name/rebuild')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'requestRebuild',
    summary: 'Ask a projection worker to rebuild a projection from offset zero',
  })
  @NAME_PARAM
  @ApiResponse({
    status: 202,
    type: RebuildResponseBody,
    description: 'Requested; Location is its status URL.',
    headers: { Location: { description: 'The status URL.', schema: { type: 'string' } } },
  })
  @UNKNOWN('projection')
  @ApiResponse({
    status: 409,
    type: RebuildConflictResponse,
    description:
      'A rebuild of it is already requested or running (REBUILD_IN_PROGRESS): `rebuild` and `statusUrl` name it.',
  })
  async rebuild(
    @Param() { name }: ProjectionParams,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) response: FastifyReply,
  ): Promise<RebuildResponse> {
    const projection = this.projection(name);
    const requestedBy = `admin-api from ${request.ip}`;
    try {
      const rebuild = await this.records.request({
        projection: projection.name,
        version: projection.version,
        requestedBy,
        reason: 'admin-api',
      });
      this.logger.log(
        `rebuild ${rebuild.id} of ${projection.name} requested by ${requestedBy} at ${rebuild.requestedAt}`,
      );
      const statusUrl = this.statusUrl(rebuild);
      void response.header('Location', statusUrl);
      return { rebuild, statusUrl };
    } catch (error) {
      if (!(error instanceof RebuildAlreadyActive)) throw error;
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        code: 'REBUILD_IN_PROGRESS',
        message: error.message,
        rebuild: error.active,
        statusUrl: this.statusUrl(error.active),
      });
    }
  }

  @Get(':name/rebuilds/:id')
  @ApiOperation({
    operationId: 'getRebuild',
    summary: "A rebuild's state and progress: phase, events done of total, events/s, ETA",
  })
  @NAME_PARAM
  @ID_PARAM
  @ApiOkResponse({ type: RebuildResponseBody })
  @UNKNOWN('projection or rebuild')
  async status(@Param() { name, id }: RebuildParams): Promise<RebuildResponse> {
    const rebuild = await this.find(name, id);
    return { rebuild, statusUrl: this.statusUrl(rebuild) };
  }

  /**
   * Stops a rebuild: a requested one at once, a running one within a second; the live generation keeps
   * serving. A 202 means the rebuild will not switch: the cancel and the switch lock the rebuild's row,
   * so a switch under way finishes first and the cancel then answers 409.
   */
  @Post(':name/rebuilds/:id/cancel')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'cancelRebuild',
    summary: 'Stop a requested or running rebuild; the live generation keeps serving',
  })
  @NAME_PARAM
  @ID_PARAM
  @ApiResponse({ status: 202, type: RebuildResponseBody, description: 'Cancelled: it will not switch.' })
  @UNKNOWN('projection or rebuild')
  @ApiResponse({
    status: 409,
    type: RebuildConflictResponse,
    description: 'It has already ended (REBUILD_FINISHED): `rebuild` shows how.',
  })
  async cancel(@Param() { name, id }: RebuildParams, @Req() request: FastifyRequest): Promise<RebuildResponse> {
    const rebuild = await this.find(name, id);
    const cancelled = await this.records.requestCancel(rebuild.id);
    if (!cancelled) {
      const ended = (await this.records.find(rebuild.id)) ?? rebuild; // as it is now: it may have switched while the cancel waited
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        code: 'REBUILD_FINISHED',
        message: `rebuild ${id} has already ${ended.state}`,
        rebuild: ended,
      });
    }
    this.logger.log(`rebuild ${id} of ${name} cancelled by admin-api from ${request.ip}`);
    return { rebuild: cancelled, statusUrl: this.statusUrl(cancelled) };
  }

  private projection(name: string): Projection {
    const projection = this.projections.find((candidate) => candidate.name === name);
    if (!projection) {
      const known = this.projections.map((candidate) => candidate.name).join(', ');
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        code: 'UNKNOWN_PROJECTION',
        message: `no projection named ${name}; known projections: ${known}`,
      });
    }
    return projection;
  }

  private async find(name: string, id: string): Promise<RebuildRecord> {
    this.projection(name);
    const rebuild = await this.records.find(id);
    if (rebuild?.projection !== name) {
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        code: 'REBUILD_NOT_FOUND',
        message: `no rebuild ${id} of ${name}`,
      });
    }
    return rebuild;
  }

  private statusUrl(rebuild: RebuildRecord): string {
    return `/admin/projections/${rebuild.projection}/rebuilds/${rebuild.id}`;
  }
}
