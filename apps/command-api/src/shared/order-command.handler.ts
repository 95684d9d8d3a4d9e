import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';

import {
  decideAndAppend,
  EventStore,
  IdempotencyKeyReused,
  IdempotencyKeys,
  withConflictRetry,
  type StoredResponse,
} from '@app/event-store';
import { ORDER_EVENT_SCHEMA_VERSION, type OrderCommand, type OrderState } from '@app/orders-domain';
import { Clock, IdGenerator } from '@app/platform';

import { commandRequestContext, type CommandRequestContext } from './command-request.js';
import type { OrderCommandResponse } from './order-command.response.js';
import { orderDecider } from './order-decider.js';

interface CommandOutcome extends StoredResponse {
  readonly body: OrderCommandResponse;
  readonly replayed: boolean;
}

/**
 * Runs an order command for an HTTP request: one transaction that checks the idempotency key,
 * decides against the order's history, appends the events and records the response. Every
 * controller of the command API goes through here.
 */
@Injectable()
export class OrderCommandHandler {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(IdempotencyKeys) private readonly keys: IdempotencyKeys,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(IdGenerator) private readonly ids: IdGenerator,
  ) {}

  /** Handles the command and writes status and headers; returns the body. */
  async handle(
    request: Request,
    response: Response,
    orderId: string,
    command: OrderCommand,
    { creates = false }: { creates?: boolean } = {},
  ): Promise<OrderCommandResponse> {
    const context = commandRequestContext(request, this.ids, { acceptsIfMatch: !creates });
    const outcome = await this.execute(orderId, command, context, creates ? HttpStatus.CREATED : HttpStatus.OK);
    response.status(outcome.status);
    for (const [name, value] of Object.entries(outcome.headers)) response.setHeader(name, value);
    if (outcome.replayed) response.setHeader('Idempotent-Replayed', 'true');
    return outcome.body;
  }

  private execute(
    orderId: string,
    command: OrderCommand,
    context: CommandRequestContext,
    status: HttpStatus,
  ): Promise<CommandOutcome> {
    const { idempotencyKey: key, fingerprint } = context;
    const expectedVersion = command.type === 'PlaceOrder' ? 0 : context.expectedVersion;
    return withConflictRetry(this.store, expectedVersion, async (db) => {
      if (key !== undefined) {
        const previous = await this.keys.lookup(db, key, fingerprint);
        if (previous.kind === 'mismatch') throw new IdempotencyKeyReused(key);
        if (previous.kind === 'replay') {
          return { ...previous.response, body: previous.response.body as OrderCommandResponse, replayed: true };
        }
      }
      const result = await decideAndAppend(this.store, orderDecider, db, orderId, command, {
        expectedVersion,
        newStream: command.type === 'PlaceOrder', // the controller generated its id
        metadata: context.metadata,
        now: this.clock.now(),
        newEventId: () => this.ids.next(),
        schemaVersion: ORDER_EVENT_SCHEMA_VERSION,
      });
      const body: OrderCommandResponse = { orderId, version: result.version, status: statusOf(result.state) };
      const headers: Record<string, string> = { ETag: `"${result.version}"` };
      if (status === HttpStatus.CREATED) headers.Location = `/orders/${orderId}`;
      const outcome = { status, body, headers };
      if (key !== undefined) await this.keys.record(db, key, fingerprint, outcome);
      return { ...outcome, replayed: false };
    });
  }
}

function statusOf(state: OrderState): OrderCommandResponse['status'] {
  if (state.status === 'UNPLACED') throw new Error('a successful command left no order behind');
  return state.status;
}
