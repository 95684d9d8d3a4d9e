import {
  EventContractViolation,
  decodeEnvelope,
  isStorableText,
  storableKey,
  type ConsumedRecord,
  type EventContract,
  type EventEnvelope,
} from '@app/messaging';

/** A record as read from a partition, with where it came from. */
export type SourcedRecord = ConsumedRecord;

/** An event that is next in its stream's sequence. */
export interface SequencedEvent {
  readonly record: SourcedRecord;
  /** As the current version of its type: upcast by the contract. */
  readonly envelope: EventEnvelope;
  /** Whether the projection reads this type; an event it does not read still advances the version. */
  readonly handled: boolean;
}

/** A record held back: poison itself (dead-lettered), or behind an earlier parked event of its stream. */
export interface ParkedRecord {
  readonly record: SourcedRecord;
  readonly streamId: string | null;
  readonly reason: string;
  readonly deadLetter: boolean;
}

/**
 * An operator's discard of a parked record (ADR 6): that record is never applied or parked again, in
 * any generation, and its stream may skip `version` when no other record fills it.
 */
export interface Discard {
  readonly streamId: string | null;
  readonly version: number | null;
  readonly eventId: string | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface SequenceInput {
  /** The last version applied per stream, for the streams in the records. */
  readonly versions: ReadonlyMap<string, number>;
  /** Streams that already have parked events: their later events park behind them. */
  readonly parkedStreams: ReadonlySet<string>;
  /** Discards of the records' streams and of the records themselves. */
  readonly discards?: readonly Discard[];
  /** The domain's events: a type it does not know, a version newer than it knows or data off its schema is poison. */
  readonly contract: EventContract;
  readonly handles: ReadonlySet<string>;
}

export interface Sequence {
  readonly next: SequencedEvent[];
  readonly parked: ParkedRecord[];
  readonly duplicates: number;
  /** Records an operator discarded, met again (a rebuild, a replay, a re-delivery): skipped. */
  readonly discarded: number;
}

export const BEHIND_PARKED = 'behind a parked event of the same stream';

/**
 * Sorts records, in log order, into the events that are next in their stream's sequence, duplicates
 * (at or below the applied version: nothing to do), discarded records, and records to park. Pure:
 * the runner, the parked-event retry and the replays all use it, and it is tested without
 * infrastructure.
 *
 * An event is next when its version follows the applied one, or when every version in between was
 * discarded. A discarded version is a hole the stream may step over, never a version applied: a real
 * event that claims it before the stream moved past still applies.
 */
export function sequenceRecords(records: readonly SourcedRecord[], input: SequenceInput): Sequence {
  const versions = new Map(input.versions);
  const parkedStreams = new Set(input.parkedStreams);
  const discards = new DiscardIndex(input.discards ?? []);
  const next: SequencedEvent[] = [];
  const parked: ParkedRecord[] = [];
  let duplicates = 0;
  let discarded = 0;

  const park = (record: SourcedRecord, streamId: string | null, reason: string, deadLetter: boolean): void => {
    parked.push({ record, streamId, reason, deadLetter });
    if (streamId !== null) parkedStreams.add(streamId);
  };

  for (const record of records) {
    if (discards.isDiscarded(record)) {
      discarded++;
      continue;
    }
    const keyedStream = storableKey(record.key);
    if (keyedStream !== null && parkedStreams.has(keyedStream)) {
      park(record, keyedStream, BEHIND_PARKED, false);
      continue;
    }
    const badHeader = unstorableHeader(record);
    if (badHeader !== undefined) {
      park(
        record,
        keyedStream,
        `undecodable: header ${JSON.stringify(badHeader)} is not text Postgres can store`,
        true,
      );
      continue;
    }
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(record.value, record.key);
    } catch (error) {
      park(record, keyedStream, `undecodable: ${(error as Error).message}`, true);
      continue;
    }
    if (discards.isDiscardedEvent(envelope)) {
      discarded++;
      continue;
    }
    if (!input.contract.knows(envelope.type)) {
      park(record, envelope.streamId, `unknown event type ${envelope.type}`, true);
      continue;
    }
    const current = versions.get(envelope.streamId) ?? 0;
    if (envelope.version <= current) {
      duplicates++;
      continue;
    }
    const expected = discards.nextVersion(envelope.streamId, current);
    if (envelope.version > expected) {
      park(
        record,
        envelope.streamId,
        `sequence gap: expected version ${String(expected)}, got ${String(envelope.version)}`,
        true,
      );
      continue;
    }
    // After the duplicate check: a stale copy changes nothing, whatever it holds, and parks nothing.
    const upcast = readThrough(input.contract, envelope);
    if (typeof upcast === 'string') {
      park(record, envelope.streamId, upcast, true);
      continue;
    }
    versions.set(envelope.streamId, envelope.version);
    next.push({ record, envelope: upcast, handled: input.handles.has(envelope.type) });
  }
  return { next, parked, duplicates, discarded };
}

/** The envelope as the current version of its event, or why it cannot be read. */
function readThrough(contract: EventContract, envelope: EventEnvelope): EventEnvelope | string {
  try {
    return contract.read(envelope);
  } catch (error) {
    if (error instanceof EventContractViolation) return `contract: ${error.message}`;
    throw error;
  }
}

/** The first header whose name or value Postgres could not store (or that is not UTF-8 at all). */
function unstorableHeader(record: SourcedRecord): string | undefined {
  const unreadable = record.unreadableHeaders?.[0];
  if (unreadable !== undefined) return unreadable;
  // A loop, not Object.entries: this runs for every record of a replay.
  for (const name in record.headers) {
    if (!isStorableText(name) || !isStorableText(record.headers[name] ?? '')) return name;
  }
  return undefined;
}

/** Discards looked up by the record's origin, by the event they held, and as holes per stream. */
class DiscardIndex {
  private readonly origins = new Set<string>();
  private readonly events = new Set<string>();
  private readonly holes = new Map<string, Set<number>>();

  constructor(discards: readonly Discard[]) {
    for (const discard of discards) {
      this.origins.add(origin(discard.topic, discard.partition, discard.offset));
      if (discard.streamId === null || discard.version === null) continue;
      if (discard.eventId !== null)
        this.events.add(`${discard.streamId}|${String(discard.version)}|${discard.eventId}`);
      const holes = this.holes.get(discard.streamId) ?? new Set<number>();
      holes.add(discard.version);
      this.holes.set(discard.streamId, holes);
    }
  }

  isDiscarded(record: SourcedRecord): boolean {
    // Most batches have no discard at all: no key to build per record then.
    return this.origins.size > 0 && this.origins.has(origin(record.topic, record.partition, record.offset));
  }

  /** The same event sent again (a relay re-send lands at another offset) is discarded too. */
  isDiscardedEvent(envelope: EventEnvelope): boolean {
    return (
      this.events.size > 0 && this.events.has(`${envelope.streamId}|${String(envelope.version)}|${envelope.eventId}`)
    );
  }

  /** The highest version that may follow `current`: the next one, or past every discarded version after it. */
  nextVersion(streamId: string, current: number): number {
    const holes = this.holes.get(streamId);
    let version = current + 1;
    while (holes?.has(version)) version++;
    return version;
  }
}

function origin(topic: string, partition: number, offset: string): string {
  return `${topic}/${String(partition)}@${offset}`;
}
