import { ApiProperty } from '@nestjs/swagger';

import { ErrorResponse, nullableRef } from '@app/platform';
import type {
  ParkedEventSummary,
  PartitionProgress,
  PartitionStatus,
  ProjectionStatus,
  RebuildPhase,
  RebuildRecord,
  RebuildState,
  ReplayProgressSnapshot,
  RetryOutcome,
} from '@app/projections';

// The admin answers as the OpenAPI document describes them. Each class implements the type the
// controller answers with, so a field added to or retyped in that type fails compilation here
// until the document says it too.

const REBUILD_STATES = [
  'requested',
  'running',
  'switched',
  'failed',
  'cancelled',
] as const satisfies readonly RebuildState[];
const REBUILD_PHASES = [
  'preparing',
  'filling',
  'catching-up',
  'switching',
  'done',
] as const satisfies readonly RebuildPhase[];

export class PartitionProgressResponse implements PartitionProgress {
  @ApiProperty({ type: 'integer' })
  readonly partition!: number;

  @ApiProperty({ type: 'integer', description: 'The next offset the rebuild applies.' })
  readonly offset!: number;

  @ApiProperty({ type: 'integer', description: 'The high-water mark taken at the start: the rebuild fills up to it.' })
  readonly target!: number;
}

export class RebuildProgressResponse implements ReplayProgressSnapshot {
  @ApiProperty({ enum: REBUILD_PHASES })
  readonly phase!: RebuildPhase;

  @ApiProperty({ type: 'integer' })
  readonly eventsDone!: number;

  @ApiProperty({ type: 'integer' })
  readonly eventsTotal!: number;

  @ApiProperty({ description: 'Over the last few seconds.' })
  readonly eventsPerSecond!: number;

  @ApiProperty({ type: 'number', nullable: true, description: 'Null before a rate is known.' })
  readonly etaSeconds!: number | null;

  @ApiProperty()
  readonly elapsedSeconds!: number;

  @ApiProperty({ type: [PartitionProgressResponse] })
  readonly partitions!: readonly PartitionProgressResponse[];
}

export class RebuildRecordResponse implements RebuildRecord {
  @ApiProperty({ pattern: '^[0-9]+$', example: '7' })
  readonly id!: string;

  @ApiProperty({ example: 'order-view' })
  readonly projection!: string;

  @ApiProperty({ type: 'integer', nullable: true, description: 'The generation it fills, once it runs.' })
  readonly generation!: number | null;

  @ApiProperty({ type: 'string', nullable: true })
  readonly schemaName!: string | null;

  @ApiProperty({ type: 'integer', description: 'The projection version it builds.' })
  readonly version!: number;

  @ApiProperty({ enum: REBUILD_STATES })
  readonly state!: RebuildState;

  @ApiProperty({ example: 'admin-api from 127.0.0.1' })
  readonly requestedBy!: string;

  @ApiProperty({ example: 'admin-api' })
  readonly reason!: string;

  @ApiProperty()
  readonly cancelRequested!: boolean;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    nullable: true,
    description: 'Log end per partition when it started.',
  })
  readonly highWaterMarks!: Record<string, number> | null;

  @ApiProperty(nullableRef(RebuildProgressResponse))
  readonly progress!: RebuildProgressResponse | null;

  @ApiProperty({ type: 'string', nullable: true })
  readonly error!: string | null;

  @ApiProperty({ format: 'date-time' })
  readonly requestedAt!: string;

  @ApiProperty({ type: 'string', format: 'date-time', nullable: true })
  readonly startedAt!: string | null;

  @ApiProperty({ type: 'string', format: 'date-time', nullable: true })
  readonly finishedAt!: string | null;
}

export class RebuildResponse {
  @ApiProperty({ type: RebuildRecordResponse })
  readonly rebuild!: RebuildRecordResponse;

  @ApiProperty({ example: '/admin/projections/order-view/rebuilds/7', description: 'Where its progress is read.' })
  readonly statusUrl!: string;
}

/** 409 of a rebuild request or cancel: the rebuild that stands in the way, or the one that already ended. */
export class RebuildConflictResponse extends ErrorResponse {
  @ApiProperty({ type: RebuildRecordResponse })
  readonly rebuild!: RebuildRecordResponse;

  @ApiProperty({ required: false, description: 'REBUILD_IN_PROGRESS only: where the running one is followed.' })
  readonly statusUrl?: string;
}

export class PartitionStatusResponse implements PartitionStatus {
  @ApiProperty({ type: 'integer' })
  readonly partition!: number;

  @ApiProperty({ type: 'integer', description: 'The next offset the live generation applies.' })
  readonly nextOffset!: number;

  @ApiProperty({ type: 'integer', nullable: true, description: 'Null while the broker does not answer.' })
  readonly logEnd!: number | null;

  @ApiProperty({ type: 'integer', nullable: true })
  readonly lag!: number | null;
}

export class ProjectionStatusResponse implements ProjectionStatus {
  @ApiProperty({ example: 'order-view' })
  readonly name!: string;

  @ApiProperty({ type: 'integer', description: 'The version in this code.' })
  readonly version!: number;

  @ApiProperty({ type: 'integer', nullable: true })
  readonly generation!: number | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'The version that built the live generation.' })
  readonly generationVersion!: number | null;

  @ApiProperty({ type: 'string', nullable: true })
  readonly schema!: string | null;

  @ApiProperty({ type: 'string', format: 'date-time', nullable: true })
  readonly builtAt!: string | null;

  @ApiProperty({ enum: ['live', 'rebuild-requested', 'rebuilding', 'missing'] })
  readonly state!: ProjectionStatus['state'];

  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: 'Summed over the partitions; null while the broker does not answer.',
  })
  readonly lag!: number | null;

  @ApiProperty({ type: 'integer' })
  readonly parkedEvents!: number;

  @ApiProperty({ type: [PartitionStatusResponse] })
  readonly offsets!: readonly PartitionStatusResponse[];

  @ApiProperty(nullableRef(RebuildRecordResponse))
  readonly lastRebuild!: RebuildRecordResponse | null;
}

export class ProjectionListResponse {
  @ApiProperty({ type: [ProjectionStatusResponse] })
  readonly items!: readonly ProjectionStatusResponse[];
}

export class ParkedEventResponse implements Omit<ParkedEventSummary, 'streamId'> {
  @ApiProperty({ pattern: '^[0-9]+$', example: '12' })
  readonly id!: string;

  @ApiProperty({ example: 'order-view' })
  readonly projection!: string;

  @ApiProperty({ type: 'string', nullable: true, description: 'Null when the record had no usable key.' })
  readonly orderId!: string | null;

  @ApiProperty({ example: 'orders.events' })
  readonly topic!: string;

  @ApiProperty({ type: 'integer' })
  readonly partition!: number;

  @ApiProperty({ pattern: '^[0-9]+$', example: '1520' })
  readonly offset!: string;

  @ApiProperty({ example: 'unknown event type OrderTeleported' })
  readonly reason!: string;

  @ApiProperty({ description: 'Poison sent to the dead-letter topic; false for events parked behind it.' })
  readonly deadLettered!: boolean;

  @ApiProperty({ format: 'date-time' })
  readonly parkedAt!: string;

  @ApiProperty({ type: 'string', nullable: true, description: "The start of the record's value as text." })
  readonly valuePreview!: string | null;
}

export class ParkedEventListResponse {
  @ApiProperty({ type: [ParkedEventResponse] })
  readonly items!: readonly ParkedEventResponse[];
}

export class RetryOutcomeResponse implements RetryOutcome {
  @ApiProperty({ type: 'integer' })
  readonly applied!: number;

  @ApiProperty({ type: 'integer' })
  readonly stillParked!: number;
}

export class DiscardedResponse {
  @ApiProperty({ pattern: '^[0-9]+$', example: '12', description: 'The id of the parked event discarded.' })
  readonly discarded!: string;
}
