import { EventContractViolation, type EventContract } from '@app/messaging';
import type { SqlSession } from '@app/platform';

import type { DomainEvent, EventMetadata, EventStore, NewEvent, RecordedEvent } from './event-store.js';
import { ConcurrencyConflict } from './event-store.js';

/**
 * The decider pattern: pure functions the write side runs against a stream's history, and the
 * contract its events are recorded under (history is upcast through it before `evolve`, new events
 * are checked against it before they are appended).
 */
export interface Decider<Command, Event extends DomainEvent, State> {
  readonly initialState: State;
  readonly events: EventContract<Event['type']>;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
}

/**
 * A stream holds an event this process cannot read: recorded with a schema version newer than it
 * knows (a newer deployment wrote it; `newerThanKnown`), or not matching its schema at all. Nothing
 * is decided on a history that would be misread.
 */
export class UnreadableHistory extends Error {
  readonly newerThanKnown: boolean;

  constructor(
    readonly streamId: string,
    readonly version: number,
    violation: EventContractViolation,
  ) {
    super(`event ${String(version)} of ${streamId} cannot be read: ${violation.message}`);
    this.name = 'UnreadableHistory';
    this.newerThanKnown = violation.kind === 'newer-than-known';
  }
}

/** `decide` returned an event its own contract refuses: a bug in the domain, never written. */
export class DecidedEventBreaksContract extends Error {
  constructor(problems: string) {
    super(`decide produced an event that breaks the event contract: ${problems}`);
    this.name = 'DecidedEventBreaksContract';
  }
}

/** The client pinned the version it saw (`If-Match`) and the stream has moved on. */
export class VersionMismatch extends Error {
  constructor(
    readonly expectedVersion: number,
    readonly actualVersion?: number,
  ) {
    super(
      `expected version ${expectedVersion}, the stream is at ${actualVersion === undefined ? 'a later version' : `version ${actualVersion}`}`,
    );
    this.name = 'VersionMismatch';
  }
}

export interface CommandOptions {
  /** Set from `If-Match`: decide only against exactly this version, never retry. */
  readonly expectedVersion?: number | undefined;
  readonly metadata: EventMetadata;
  readonly now: Date;
  readonly newEventId: () => string;
  /**
   * The stream is new: its id was generated for this command and no one else knows it yet, so there is
   * no history to read and no writer to queue behind. Skips two round trips; the unique
   * (order_id, version) key still guards the append.
   */
  readonly newStream?: boolean;
}

export interface CommandResult<State> {
  readonly version: number;
  readonly state: State;
  readonly eventIds: readonly string[];
}

/** How often an unpinned command re-reads and decides again after losing a race to a writer that did not lock. */
export const MAX_COMMAND_ATTEMPTS = 5;

/**
 * One attempt, inside the caller's transaction: lock the stream, load and fold it (unless it is new),
 * decide, and append with the version it read.
 */
export async function decideAndAppend<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  db: SqlSession,
  streamId: string,
  command: Command,
  options: CommandOptions,
): Promise<CommandResult<State>> {
  let history: RecordedEvent[] = [];
  if (!options.newStream) history = await store.lockAndReadStream(db, streamId);
  const version = history.length;
  if (options.expectedVersion !== undefined && options.expectedVersion !== version) {
    throw new VersionMismatch(options.expectedVersion, version);
  }
  const state = history.reduce(
    (current, recorded) => decider.evolve(current, currentVersionOf(decider.events, recorded)),
    decider.initialState,
  );
  const events = decider.decide(command, state);
  const newEvents: NewEvent[] = events.map((event) => ({
    eventId: options.newEventId(),
    schemaVersion: checkedVersion(decider.events, event),
    event,
    occurredAt: options.now,
    metadata: options.metadata,
  }));
  const newVersion = await store.append(db, streamId, version, newEvents);
  return {
    version: newVersion,
    state: events.reduce((current, event) => decider.evolve(current, event), state),
    eventIds: newEvents.map((event) => event.eventId),
  };
}

/** A recorded event as the current version of its type: what `evolve` is written for. */
function currentVersionOf<Event extends DomainEvent>(
  contract: EventContract<Event['type']>,
  recorded: RecordedEvent,
): Event {
  const { type, data } = recorded.event;
  try {
    return { type, data: contract.upcast(type, recorded.schemaVersion, data) } as Event;
  } catch (error) {
    if (error instanceof EventContractViolation)
      throw new UnreadableHistory(recorded.streamId, recorded.version, error);
    throw error;
  }
}

/** The version a new event is written with (its type's latest), once its data matches that version's schema. */
function checkedVersion<Event extends DomainEvent>(contract: EventContract<Event['type']>, event: Event): number {
  const version = contract.currentVersion(event.type);
  const problems = contract.problems(event.type, version, event.data);
  if (problems !== undefined) throw new DecidedEventBreaksContract(problems);
  return version;
}

/**
 * Runs `work` in a transaction, again from scratch when it loses a race (bounded), unless the
 * client pinned the version: then a lost race is the client's 412. `sharing`: the work starts a new
 * stream and may share its transaction (EventStore.transaction).
 */
export async function withConflictRetry<T>(
  store: EventStore,
  pinnedVersion: number | undefined,
  work: (db: SqlSession) => Promise<T>,
  sharing?: { readonly exclusive: string | undefined },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(work, sharing);
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict)) throw error;
      if (pinnedVersion !== undefined) throw new VersionMismatch(pinnedVersion);
      if (attempt >= MAX_COMMAND_ATTEMPTS) throw error;
    }
  }
}

/** Loads, decides and appends in its own transaction, retrying lost races. */
export function handleCommand<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamId: string,
  command: Command,
  options: CommandOptions,
): Promise<CommandResult<State>> {
  return withConflictRetry(store, options.expectedVersion, (db) =>
    decideAndAppend(store, decider, db, streamId, command, options),
  );
}
