import assert from 'node:assert/strict';

import { projections } from '@app/projections';

import { eventually } from './eventually.js';
import { readTopicToEnd, type ReadRecord } from './kafka-reader.js';
import { assertReadModelsEqualFold } from './read-model-oracle.js';
import type { TestEnvironment } from './test-environment.js';

/**
 * What the fault suite checks after every scenario, whatever the fault was:
 * 1. every acknowledged command's events are in the store, and each order's versions are contiguous;
 * 2. every stored event is on the topic (at least once; a re-sent duplicate is counted, not an error);
 * 3. every read model equals a fold of the store from scratch (nothing lost, nothing applied twice);
 * 4. each projection's stored offsets equal the log end: what it recorded is what it applied.
 */
export interface GuaranteeFigures {
  readonly acknowledged: number;
  /** Acknowledged commands whose event is not in the store. */
  readonly lost: number;
  /** Events in the store. */
  readonly events: number;
  readonly orders: number;
  /** Records on the topic beyond one per stored event: re-sends the projections had to skip. */
  readonly duplicatesOnTopic: number;
  /** Order view rows that counted more applied events than their version. */
  readonly appliedTwice: number;
}

/** What the clients were told: the version each acknowledged command reached, per order. */
export class AcknowledgedCommands {
  private readonly versions = new Map<string, number>();
  private count = 0;

  record(orderId: string, version: number): void {
    this.count++;
    this.versions.set(orderId, Math.max(version, this.versions.get(orderId) ?? 0));
  }

  get size(): number {
    return this.count;
  }

  entries(): IterableIterator<[string, number]> {
    return this.versions.entries();
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
}

export async function assertGuarantees(
  env: TestEnvironment,
  acknowledged: AcknowledgedCommands,
  { timeoutMs = 120_000, topicMatchesStore = false }: GuaranteeOptions = {},
): Promise<GuaranteeFigures> {
  const { rows: stored } = await env.db.query<{ order_id: string; versions: number; first: number; last: number }>(
    'SELECT order_id::text, count(*)::int AS versions, min(version) AS first, max(version) AS last FROM events GROUP BY order_id',
  );
  const storedVersions = new Map(stored.map((row) => [row.order_id, row]));
  let lost = 0;
  for (const [orderId, version] of acknowledged.entries()) {
    const order = storedVersions.get(orderId);
    if (!order || order.last < version) lost++;
  }
  const gaps = stored.filter((row) => row.first !== 1 || row.versions !== row.last);
  assert.deepEqual(gaps.slice(0, 5), [], 'every order\'s versions run 1, 2, 3, … without a gap');
  assert.equal(lost, 0, `acknowledged commands missing from the store: ${lost}`);

  // The relay has drained the outbox, and the topic holds every stored event.
  await eventually(async () => {
    const { rows } = await env.db.query<{ pending: number }>('SELECT count(*)::int AS pending FROM outbox');
    assert.equal(rows[0]?.pending, 0, 'the outbox is drained');
  }, { timeoutMs, intervalMs: 250 });
  const { rows: eventIds } = await env.db.query<{ event_id: string }>('SELECT event_id::text FROM events');
  const expectedIds = new Set(eventIds.map((row) => row.event_id));
  const topic = env.config.kafka.ordersTopic;
  // Nothing is written any more: read every partition up to its log end, foreign records included.
  const logEnd = await logEnds(env, topic);
  const { records: onTopic } = await readTopicToEnd(env.kafka, topic, { timeoutMs });
  const ours = onTopic.filter((record) => expectedIds.has(record.headers['event-id'] ?? ''));
  const seen = new Set(ours.map((record) => record.headers['event-id']));
  const missing = [...expectedIds].filter((id) => !seen.has(id));
  assert.deepEqual(missing.slice(0, 5), [], 'every stored event is on the topic');
  if (topicMatchesStore) assertTopicMatchesStore(onTopic, expectedIds);

  // The projections have caught up (records that change no row, such as re-sent duplicates, move
  // only the offsets, so both are waited for) and their rows are what a fold from scratch gives.
  const { orders, events } = await eventually(() => assertReadModelsEqualFold(env.db), { timeoutMs, intervalMs: 500 });
  await eventually(async () => {
    const { rows: offsets } = await env.db.query<{ projection: string; partition: number; next_offset: string }>(
      'SELECT projection, partition, next_offset::text FROM projection_offsets WHERE topic = $1',
      [topic],
    );
    for (const { name } of projections) {
      const stored = new Map(offsets.filter((row) => row.projection === name).map((row) => [row.partition, Number(row.next_offset)]));
      for (const [partition, end] of logEnd) {
        if (end === 0) continue; // a partition nothing was written to may have no offset row
        assert.equal(stored.get(partition), end, `${name} recorded offset ${end} of partition ${partition}, the log end`);
      }
    }
  }, { timeoutMs, intervalMs: 250 });
  const { rows: twice } = await env.db.query<{ count: number }>('SELECT count(*)::int AS count FROM order_view WHERE applied_events > version');
  const appliedTwice = twice[0]?.count ?? 0;
  assert.equal(appliedTwice, 0, 'no order view row applied an event twice');
  return { acknowledged: acknowledged.size, lost, events, orders, duplicatesOnTopic: ours.length - seen.size, appliedTwice };
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
    if (version !== expected) outOfOrder.push(`${orderId}: version ${String(version)} where ${String(expected)} was next (offset ${record.offset})`);
    lastVersion.set(orderId, version);
  }
  assert.deepEqual(outOfOrder.slice(0, 5), [], 'each order\'s events first appear on the topic in version order');
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
