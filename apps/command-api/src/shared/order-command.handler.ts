import { Inject, Injectable } from '@nestjs/common';

import {
  decideAndAppend,
  EventStore,
  IdempotencyKeyReused,
  IdempotencyKeys,
  withConflictRetry,
  type EventMetadata,
} from '@app/event-store';
import { type OrderCommand, type OrderState, type PlaceOrder } from '@app/orders-domain';
import { Clock, IdGenerator } from '@app/platform';

import type { OrderCommandResponse } from './order-command.response.js';
import { orderDecider } from './order-decider.js';

/** A command for one order, as a controller hands it to the HTTP edge to run. */
export interface OrderCommandCall {
  readonly orderId: string;
  readonly command: OrderCommand;
}

/** How to run a command, beyond the command itself: what the client said in its request's headers. */
export interface CommandRequestContext {
  readonly idempotencyKey: string | undefined;
  /** Method, path and body: a key reused for anything else answers 422. */
  readonly fingerprint: string;
  /** From If-Match: decide only against this version, and answer 412 instead of retrying a lost race. */
  readonly expectedVersion: number | undefined;
  readonly metadata: EventMetadata;
}

/**
 * What running a command answers. Recorded with the idempotency key, so a replay answers exactly what the
 * first request did; `replayed` is the one thing that tells them apart.
 */
export interface CommandOutcome {
  /** 201 when the command created the order (with its Location), else 200. */
  readonly status: 200 | 201;
  readonly body: OrderCommandResponse;
  readonly headers: Readonly<Record<string, string>>;
  readonly replayed: boolean;
}

type RecordedOutcome = Omit<CommandOutcome, 'replayed'>;

/** PlaceOrder starts a stream under an id no one else knows yet: there is no version to pin, nothing to read. */
export function startsOrder(command: OrderCommand): command is PlaceOrder {
  return command.type === 'PlaceOrder';
}

/**
 * Runs an order command: one transaction that checks the idempotency key, decides against the order's
 * history, appends the events and records the outcome. Every command of the command API goes through
 * here; it knows nothing of the HTTP framework (see order-command.http.ts).
 */
@Injectable()
export class OrderCommandHandler {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(IdempotencyKeys) private readonly keys: IdempotencyKeys,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(IdGenerator) private readonly ids: IdGenerator,
  ) {}

  execute(orderId: string, command: OrderCommand, context: CommandRequestContext): Promise<CommandOutcome> {
    const { idempotencyKey: key, fingerprint } = context;
    const creates = startsOrder(command);
    const expectedVersion = creates ? 0 : context.expectedVersion;
    // A new order's command waits for no lock but its key's: it may share a transaction (group commit).
    const sharing = creates ? { exclusive: key } : undefined;
    return withConflictRetry(
      this.store,
      expectedVersion,
      async (db) => {
        if (key !== undefined) {
          const previous = await this.keys.lookup(db, key, fingerprint);
          if (previous.kind === 'mismatch') throw new IdempotencyKeyReused(key);
          // Only this method records responses for keys, so the stored one is an outcome.
          if (previous.kind === 'replay') return { ...(previous.response as RecordedOutcome), replayed: true };
        }
        const result = await decideAndAppend(this.store, orderDecider, db, orderId, command, {
          expectedVersion,
          newStream: creates, // the controller generated its id
          metadata: context.metadata,
          now: this.clock.now(),
          newEventId: () => this.ids.next(),
        });
        const outcome: RecordedOutcome = {
          status: creates ? 201 : 200,
          body: { orderId, version: result.version, status: statusOf(result.state) },
          headers: { ETag: `"${result.version}"`, ...(creates ? { Location: `/orders/${orderId}` } : {}) },
        };
        if (key !== undefined) await this.keys.record(db, key, fingerprint, outcome);
        return { ...outcome, replayed: false };
      },
      sharing,
    );
  }
}

function statusOf(state: OrderState): OrderCommandResponse['status'] {
  if (state.status === 'UNPLACED') throw new Error('a successful command left no order behind');
  return state.status;
}
