import { decodeEnvelope, type ConsumedRecord, type EventEnvelope } from '@app/messaging';

/** A record as read from a partition, with where it came from. */
export interface SourcedRecord extends ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
}

/** An event that is next in its order's sequence. */
export interface SequencedEvent {
  readonly record: SourcedRecord;
  readonly envelope: EventEnvelope;
  /** Whether the projection reads this type; an event it does not read still advances the version. */
  readonly handled: boolean;
}

/** A record held back: poison itself (dead-lettered), or behind an earlier parked event of its order. */
export interface ParkedRecord {
  readonly record: SourcedRecord;
  readonly orderId: string | null;
  readonly reason: string;
  readonly deadLetter: boolean;
}

export interface SequenceInput {
  /** The last version applied per order, for the orders in the records. */
  readonly versions: ReadonlyMap<string, number>;
  /** Orders that already have parked events: their later events park behind them. */
  readonly parkedOrders: ReadonlySet<string>;
  readonly knownTypes: ReadonlySet<string>;
  readonly handles: ReadonlySet<string>;
}

export interface Sequence {
  readonly next: SequencedEvent[];
  readonly parked: ParkedRecord[];
  readonly duplicates: number;
}

export const BEHIND_PARKED = 'behind a parked event of the same order';

/**
 * Sorts records, in log order, into the events that are next in their order's sequence, duplicates
 * (at or below the applied version: nothing to do), and records to park. Pure: the runner and the
 * parked-event retry both use it, and it is tested without infrastructure.
 */
export function sequenceRecords(records: readonly SourcedRecord[], input: SequenceInput): Sequence {
  const versions = new Map(input.versions);
  const parkedOrders = new Set(input.parkedOrders);
  const next: SequencedEvent[] = [];
  const parked: ParkedRecord[] = [];
  let duplicates = 0;

  const park = (record: SourcedRecord, orderId: string | null, reason: string, deadLetter: boolean): void => {
    parked.push({ record, orderId, reason, deadLetter });
    if (orderId !== null) parkedOrders.add(orderId);
  };

  for (const record of records) {
    const keyedOrder = record.key?.toString('utf8') ?? null;
    if (keyedOrder !== null && parkedOrders.has(keyedOrder)) {
      park(record, keyedOrder, BEHIND_PARKED, false);
      continue;
    }
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(record.value, record.key);
    } catch (error) {
      park(record, keyedOrder, `undecodable: ${(error as Error).message}`, true);
      continue;
    }
    if (!input.knownTypes.has(envelope.type)) {
      park(record, envelope.orderId, `unknown event type ${envelope.type}`, true);
      continue;
    }
    const current = versions.get(envelope.orderId) ?? 0;
    if (envelope.version <= current) {
      duplicates++;
      continue;
    }
    if (envelope.version !== current + 1) {
      park(record, envelope.orderId, `sequence gap: expected version ${current + 1}, got ${envelope.version}`, true);
      continue;
    }
    versions.set(envelope.orderId, envelope.version);
    next.push({ record, envelope, handled: input.handles.has(envelope.type) });
  }
  return { next, parked, duplicates };
}
