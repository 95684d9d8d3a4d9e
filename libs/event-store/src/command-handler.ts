import type { EventStore, DomainEvent, EventMetadata, NewEvent } from './event-store.js';
import { ConcurrencyConflict } from './event-store.js';

/** The decider pattern: pure functions the write side runs against a stream's history. */
export interface Decider<Command, Event extends DomainEvent, State> {
  readonly initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

/** The client pinned the version it saw (`If-Match`) and the stream has moved on. */
export class VersionMismatch extends Error {
  constructor(
    readonly expectedVersion: number,
    readonly actualVersion?: number,
  ) {
    super(`expected version ${expectedVersion}, the order is at ${actualVersion === undefined ? 'a later version' : `version ${actualVersion}`}`);
    this.name = 'VersionMismatch';
  }
}

export interface CommandOptions {
  /** Set from `If-Match`: decide only against exactly this version, never retry. */
  readonly expectedVersion?: number | undefined;
  readonly metadata: EventMetadata;
  readonly now: Date;
  readonly newEventId: () => string;
  readonly schemaVersion: number;
}

export interface CommandResult<State> {
  readonly version: number;
  readonly state: State;
  readonly eventIds: readonly string[];
}

/** How often an unpinned command re-reads and decides again after losing a race to a writer that did not lock. */
export const MAX_COMMAND_ATTEMPTS = 5;

/**
 * Loads the stream, folds it, decides, and appends with the version it read, in one transaction.
 * A lost race is retried from a fresh read unless the client pinned the version.
 */
export async function handleCommand<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  orderId: string,
  command: Command,
  options: CommandOptions,
): Promise<CommandResult<State>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(async (db) => {
        await store.lockStream(db, orderId);
        const history = await store.readStream<Event>(orderId, db);
        const version = history.length;
        if (options.expectedVersion !== undefined && options.expectedVersion !== version) {
          throw new VersionMismatch(options.expectedVersion, version);
        }
        const state = history.reduce((current, recorded) => decider.evolve(current, recorded.event), decider.initialState);
        const events = decider.decide(command, state);
        const newEvents: NewEvent[] = events.map((event) => ({
          eventId: options.newEventId(),
          schemaVersion: options.schemaVersion,
          event,
          occurredAt: options.now,
          metadata: options.metadata,
        }));
        const newVersion = await store.append(db, orderId, version, newEvents);
        return {
          version: newVersion,
          state: events.reduce((current, event) => decider.evolve(current, event), state),
          eventIds: newEvents.map((event) => event.eventId),
        };
      });
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict)) throw error;
      if (options.expectedVersion !== undefined) {
        throw new VersionMismatch(options.expectedVersion);
      }
      if (attempt >= MAX_COMMAND_ATTEMPTS) throw error;
    }
  }
}
