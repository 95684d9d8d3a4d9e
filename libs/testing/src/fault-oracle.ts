import assert from 'node:assert/strict';

import type { OrderEventType } from '@app/orders-domain';
import { projections } from '@app/projections';

import { eventually } from './eventually.js';
import { readTopic, readTopicToEnd, type ReadRecord } from './kafka-reader.js';
import { assertReadModelsEqualFold } from './read-model-oracle.js';
import type { TestEnvironment } from './test-environment.js';

/**
 * What the fault suite checks after every scenario, whatever the fault was:
 * 1. every acknowledged command is the stored event at the version and of the type its client was
 *    told, each order's versions are contiguous, and no order holds events no client was told of;
 * 2. every stored event is on the topic (at least once; a re-sent duplicate is counted, not an error),
 *    the first record of each acknowledged version carrying the acknowledged event;
 * 3. every read model, side table and per-order version equals a fold of the store from scratch,
 *    column by column (`npm run verify`'s code: nothing lost, nothing applied twice, no stray row);
 * 4. each projection's stored offsets equal the log end: what it recorded is what it applied.
 */
export interface GuaranteeFigures {
  readonly acknowledged: number;
  /** Acknowledged commands whose event is not in the store at the version the client was told, as the type it was told. */
  readonly lost: number;
  /** Stored events of the clients' orders that no client was told of (allowed only where a scenario says commands may land unanswered). */
  readonly unacknowledged: number;
  /** Events in the store. */
  readonly events: number;
  readonly orders: number;
  /** Records on the topic beyond one per stored event: re-sends the projections had to skip. */
  readonly duplicatesOnTopic: number;
  /** Read-model values past the fold's by exactly one event's effect (from the fold, not the projections' counters). */
  readonly appliedTwice: number;
}

/** One command a client was told succeeded: the version it took its order to, and the event that did it. */
export interface Acknowledgement {
  readonly orderId: string;
  readonly version: number;
  readonly eventType: OrderEventType;
}

/**
 * What the clients were told, exactly: every acknowledged command, one entry each. Two
 * acknowledgements of one version of one order mean one of them was lost (a later command decided
 * at the version a lost one had been answered with), so nothing here is merged or maximised.
 */
export class AcknowledgedCommands {
  private readonly byOrder = new Map<string, Acknowledgement[]>();
  private count = 0;
  private latest: Acknowledgement | undefined;

  record(orderId: string, version: number, eventType: OrderEventType): void {
    this.count++;
    this.latest = { orderId, version, eventType };
    const acknowledgements = this.byOrder.get(orderId) ?? [];
    acknowledgements.push({ orderId, version, eventType });
    this.byOrder.set(orderId, acknowledgements);
  }

  get size(): number {
    return this.count;
  }

  /** The latest acknowledgement: a probe of how far the pipeline has carried the clients' commands. */
  get last(): Acknowledgement | undefined {
    return this.latest;
  }

  orders(): IterableIterator<[string, readonly Acknowledgement[]]> {
    return this.byOrder.entries();
  }
}

export interface GuaranteeOptions {
  readonly timeoutMs?: number;
  /**
   * Also check the topic against the store: every record on it is a stored event (nothing rolled
   * back or invented was published), and each order's events first appear in version order
   * 1, 2, 3, … (a re-send repeats earlier ones, never overtakes). Off for scenarios that write
   * foreign records to the topic themselves.
   */
  readonly topicMatchesStore?: boolean;
  /**
   * How many stored events may have no acknowledgement: commands whose client gave up waiting
   * (no retry with its key) may still have committed. Zero unless a scenario says so.
   */
  readonly unansweredMayLand?: number;
}

export async function assertGuarantees(
  env: TestEnvironment,
  acknowledged: AcknowledgedCommands,
  { timeoutMs = 120_000, topicMatchesStore = false, unansweredMayLand = 0 }: GuaranteeOptions = {},
): Promise<GuaranteeFigures> {
  const { lost, unacknowledged } = await assertAcknowledgementsStored(env, acknowledged, unansweredMayLand);

  const { rows: eventIds } = await env.db.query<{ event_id: string }>('SELECT event_id::text FROM events');
  const expectedIds = new Set(eventIds.map((row) => row.event_id));
  const topic = env.config.kafka.ordersTopic;
  // The relay has drained the outbox, and the topic holds every stored event.
  if (env.config.relay.mode === 'debezium') {
    // Debezium's connector leaves no table to watch (each captured row is deleted as it is
    // inserted): it has drained once every stored event is on the topic.
    await readTopic(
      env.kafka,
      topic,
      (records) => {
        const seen = new Set(records.map((record) => record.headers['event-id']));
        return [...expectedIds].every((id) => seen.has(id));
      },
      { timeoutMs },
    ).catch(() => undefined); // what is still missing is named by the check below
  } else {
    await eventually(
      async () => {
        const { rows } = await env.db.query<{ pending: number }>('SELECT count(*)::int AS pending FROM outbox');
        assert.equal(rows[0]?.pending, 0, 'the outbox is drained');
      },
      { timeoutMs, intervalMs: 250 },
    );
  }
  // Nothing is written any more: read every partition up to its log end, foreign records included.
  const logEnd = await logEnds(env, topic);
  const { records: onTopic } = await readTopicToEnd(env.kafka, topic, { timeoutMs });
  const ours = onTopic.filter((record) => expectedIds.has(record.headers['event-id'] ?? ''));
  const seen = new Set(ours.map((record) => record.headers['event-id']));
  const missing = [...expectedIds].filter((id) => !seen.has(id));
  assert.deepEqual(missing.slice(0, 5), [], 'every stored event is on the topic');
  if (topicMatchesStore) assertTopicMatchesStore(onTopic, expectedIds);
  assertAcknowledgementsOnTopic(ours, acknowledged);

  // The projections have caught up (records that change no row, such as re-sent duplicates, move
  // only the offsets, so both are waited for) and their rows are what a fold from scratch gives.
  const { orders, events, appliedTwice } = await eventually(() => assertReadModelsEqualFold(env), {
    timeoutMs,
    intervalMs: 500,
  });
  await eventually(
    async () => {
      const { rows: offsets } = await env.readDb.query<{ projection: string; partition: number; next_offset: string }>(
        'SELECT projection, partition, next_offset::text FROM projection_offsets WHERE topic = $1',
        [topic],
      );
      for (const { name } of projections) {
        const stored = new Map(
          offsets.filter((row) => row.projection === name).map((row) => [row.partition, Number(row.next_offset)]),
        );
        for (const [partition, end] of logEnd) {
          if (end === 0) continue; // a partition nothing was written to may have no offset row
          assert.equal(
            stored.get(partition),
            end,
            `${name} recorded offset ${end} of partition ${partition}, the log end`,
          );
        }
      }
    },
    { timeoutMs, intervalMs: 250 },
  );
  // Judged from the fold alone (values past it by exactly one event's effect), never from the
  // projections' own counters; assertReadModelsEqualFold has already failed on any difference.
  assert.equal(appliedTwice, 0, 'no read model applied an event twice');
  return {
    acknowledged: acknowledged.size,
    lost,
    unacknowledged,
    events,
    orders,
    duplicatesOnTopic: ours.length - seen.size,
    appliedTwice,
  };
}

/**
 * Each acknowledgement against the stored event at its order and version: the same type, each
 * version acknowledged once, every order's versions contiguous from 1, and no more stored events
 * per order than acknowledged commands (beyond what the scenario allows to land unanswered).
 */
async function assertAcknowledgementsStored(
  env: TestEnvironment,
  acknowledged: AcknowledgedCommands,
  unansweredMayLand: number,
): Promise<{ lost: number; unacknowledged: number }> {
  const { rows } = await env.db.query<{ order_id: string; version: number; type: string }>(
    'SELECT order_id::text, version, type FROM events',
  );
  const stored = new Map<string, Map<number, string>>();
  for (const row of rows)
    stored.set(row.order_id, (stored.get(row.order_id) ?? new Map<number, string>()).set(row.version, row.type));
  const gaps = [...stored]
    .filter(([, versions]) => [...versions.keys()].some((version) => version < 1 || version > versions.size))
    .map(([orderId]) => orderId);
  assert.deepEqual(gaps.slice(0, 5), [], "every order's versions run 1, 2, 3, … without a gap");

  const problems: string[] = [];
  let matched = 0;
  for (const [orderId, acknowledgements] of acknowledged.orders()) {
    const versions = stored.get(orderId);
    const told = new Set<number>();
    for (const { version, eventType } of acknowledgements) {
      const found = versions?.get(version);
      if (told.has(version))
        problems.push(
          `${orderId}@${String(version)}: acknowledged twice (${eventType} the second time); one of them is lost`,
        );
      else if (found !== eventType)
        problems.push(`${orderId}@${String(version)}: acknowledged as ${eventType}, stored ${found ?? 'nothing'}`);
      else matched++;
      told.add(version);
    }
  }
  const lost = acknowledged.size - matched;
  assert.equal(
    problems.length,
    0,
    `acknowledged commands missing from the store: ${String(lost)}; ${problems.slice(0, 5).join('; ')}`,
  );
  // Per order a client placed or changed: orders seeded straight into the store have no client.
  let storedForClients = 0;
  for (const [orderId] of acknowledged.orders()) storedForClients += stored.get(orderId)?.size ?? 0;
  const unacknowledged = storedForClients - matched;
  assert.ok(
    unacknowledged <= unansweredMayLand,
    `${String(unacknowledged)} stored events no client was told of (at most ${String(unansweredMayLand)} may land unanswered in this scenario)`,
  );
  return { lost, unacknowledged };
}

/** The first record of each acknowledged version on the topic carries the event the client was told of. */
function assertAcknowledgementsOnTopic(ours: readonly ReadRecord[], acknowledged: AcknowledgedCommands): void {
  const published = new Map<string, string>();
  for (const record of ours) {
    const { orderId, version, type } = JSON.parse(record.value ?? '{}') as {
      orderId: string;
      version: number;
      type: string;
    };
    const key = `${orderId}@${String(version)}`;
    if (!published.has(key)) published.set(key, type);
  }
  const wrong: string[] = [];
  for (const [, acknowledgements] of acknowledged.orders()) {
    for (const { orderId, version, eventType } of acknowledgements) {
      const type = published.get(`${orderId}@${String(version)}`);
      if (type !== eventType)
        wrong.push(`${orderId}@${String(version)}: acknowledged as ${eventType}, on the topic ${type ?? 'nothing'}`);
    }
  }
  assert.equal(
    wrong.length,
    0,
    `every acknowledged event is on the topic as the client was told; ${wrong.slice(0, 5).join('; ')}`,
  );
}

/** Each partition's log end (the offset the next record would get). */
async function logEnds(env: TestEnvironment, topic: string): Promise<Map<number, number>> {
  const admin = env.kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

function assertTopicMatchesStore(onTopic: readonly ReadRecord[], storedIds: ReadonlySet<string>): void {
  const foreign = onTopic.filter((record) => !storedIds.has(record.headers['event-id'] ?? ''));
  assert.deepEqual(foreign.slice(0, 5), [], 'every record on the topic is a stored event');
  const seen = new Set<string>();
  const lastVersion = new Map<string, number>();
  const outOfOrder: string[] = [];
  // The reader keeps each partition's records in offset order, and an order lives in one partition.
  for (const record of onTopic) {
    const eventId = record.headers['event-id'] ?? '';
    if (seen.has(eventId)) continue; // a re-send of an event already seen in its place
    seen.add(eventId);
    const { orderId, version } = JSON.parse(record.value ?? '{}') as { orderId: string; version: number };
    const expected = (lastVersion.get(orderId) ?? 0) + 1;
    if (version !== expected)
      outOfOrder.push(
        `${orderId}: version ${String(version)} where ${String(expected)} was next (offset ${record.offset})`,
      );
    lastVersion.set(orderId, version);
  }
  assert.deepEqual(outOfOrder.slice(0, 5), [], "each order's events first appear on the topic in version order");
}

/** Prints the scenario's one result line, `FIGURE <scenario>: <figures>`, the suite's output. */
export function reportFigure(scenario: string, figures: Readonly<Record<string, string | number | boolean>>): void {
  const text = Object.entries(figures)
    .map(([name, value]) => {
      const words = name.replace(/([A-Z]|\d+)/g, ' $1').toLowerCase();
      return typeof value === 'boolean' ? `${words}: ${value ? 'yes' : 'no'}` : `${words} ${String(value)}`;
    })
    .join(', ');
  console.log(`FIGURE ${scenario}: ${text}`);
}
