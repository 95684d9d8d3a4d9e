import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
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
  getSchemaPath,
} from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';

import { ADMIN_BEARER, AdminTokenGuard, ErrorResponse } from '@app/platform';
import { ParkedEvents, type ParkedEventSummary, type RetryOutcome } from '@app/projections';

import { AdminUnauthorized } from './admin-unauthorized.js';
import { DiscardedResponse, ParkedEventListResponse, RetryOutcomeResponse } from './admin.responses.js';

export class ParkedEventsQuery {
  @IsOptional()
  @IsString()
  @Length(1, 64)
  projection?: string;

  @IsOptional()
  @IsString()
  @Length(1, 256)
  orderId?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000)
  limit?: number;
}

export class RetryQuery {
  /** One projection; all of them when omitted. */
  @IsOptional()
  @IsString()
  @Length(1, 64)
  projection?: string;
}

/** A parked event as the admin API shows it: here the stream is an order, and the contract names it `orderId`. */
export type ParkedEventItem = Omit<ParkedEventSummary, 'streamId'> & { readonly orderId: string | null };

export class ParkedEventParams {
  @Matches(/^\d{1,18}$/, { message: 'id must be the numeric id of a parked event' })
  id!: string;
}

/** Parked events: poison and what waits behind it. Bearer ADMIN_TOKEN; every call is logged. */
@Controller('admin/parked-events')
@UseGuards(AdminTokenGuard)
@ApiTags('admin')
@ApiBearerAuth(ADMIN_BEARER)
@AdminUnauthorized()
export class ParkedEventsController {
  constructor(@Inject(ParkedEvents) private readonly parked: ParkedEvents) {}

  @Get()
  @ApiOperation({
    operationId: 'listParkedEvents',
    summary: 'Parked events of the live generations, with their reason',
  })
  @ApiOkResponse({ type: ParkedEventListResponse })
  async list(@Query() query: ParkedEventsQuery): Promise<{ items: ParkedEventItem[] }> {
    const parked = await this.parked.list({
      projection: query.projection,
      streamId: query.orderId,
      limit: query.limit ?? 100,
    });
    return { items: parked.map(toItem) };
  }

  /** Applies the order's parked events again, in log order; what still fails stays parked. */
  @Post('orders/:orderId/retry')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'retryParkedEvents',
    summary: "Apply an order's parked events again; what still fails stays parked",
  })
  @ApiParam({
    name: 'orderId',
    description: 'The key of the parked records (an order id, or whatever a neighbour wrote).',
  })
  @ApiOkResponse({
    description: 'Per projection retried: how many events applied and how many are still parked.',
    schema: { type: 'object', additionalProperties: { $ref: getSchemaPath(RetryOutcomeResponse) } },
  })
  @ApiExtraModels(RetryOutcomeResponse)
  @ApiResponse({ status: 404, type: ErrorResponse, description: 'No projection of that name (UNKNOWN_PROJECTION).' })
  async retry(
    @Param('orderId') orderId: string,
    @Query() { projection }: RetryQuery,
  ): Promise<Record<string, RetryOutcome>> {
    if (projection !== undefined && !this.parked.isKnown(projection)) {
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        code: 'UNKNOWN_PROJECTION',
        message: `no projection named ${projection}`,
      });
    }
    const names = projection === undefined ? this.parked.names() : [projection];
    const outcomes: Record<string, RetryOutcome> = {};
    for (const name of names) outcomes[name] = await this.parked.retry(name, orderId);
    return outcomes;
  }

  /** Drops one parked event for good: the read model skips it, and the order's later events may follow. */
  @Delete(':id')
  @ApiOperation({ operationId: 'discardParkedEvent', summary: 'Discard one parked event: the read model skips it' })
  @ApiParam({
    name: 'id',
    schema: { type: 'string', pattern: '^[0-9]{1,18}$' },
    description: 'The id of a parked event.',
  })
  @ApiOkResponse({ type: DiscardedResponse })
  @ApiResponse({
    status: 404,
    type: ErrorResponse,
    description: 'No parked event of that id (PARKED_EVENT_NOT_FOUND).',
  })
  async discard(@Param() { id }: ParkedEventParams): Promise<{ discarded: string }> {
    if (!(await this.parked.discard(id))) {
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        code: 'PARKED_EVENT_NOT_FOUND',
        message: `no parked event ${id}`,
      });
    }
    return { discarded: id };
  }
}

/** `orderId` keeps its place in the response, third, as the contract has always shown it. */
function toItem({ id, projection, streamId, ...rest }: ParkedEventSummary): ParkedEventItem {
  return { id, projection, orderId: streamId, ...rest };
}
