import { streamTopicToEnd, topicExists, type KafkaConnection, type ReadRecord } from '@app/messaging';

import { isUuid } from '../kit/columns.js';
import type { DifferenceLog } from './difference.js';
import type { Sql, VerifySources } from './sql.js';

const TOPIC = 'topic';
const GROUP_PREFIX = 'verify';

export interface TopicCheck {
  readonly kafka: KafkaConnection;
  readonly ordersTopic: string;
  readonly deadLetterTopic: string;
  /** Dead letters of these projections are checked. */
  readonly projections: readonly string[];
  readonly idleTimeoutMs?: number;
  /** Known, already handled things worth telling (foreign records parked or decided on). */
  readonly onInfo?: (message: string) => void;
  readonly onProgress?: (records: number) => void;
}

/**
 * The orders topic against the store: every stored event is on it (by its `event-id` header),
 * every record on it is a stored event, and each order's events first appear in version order (a
 * re-send repeats earlier ones, never overtakes). A foreign record the projections parked, or an
 * operator decided on, is known: counted and told, not a difference. Streams the topic; memory
 * holds one batch and the last version seen per order. Returns each partition's log end.
 */
export async function checkOrdersTopic(
  { store, read }: VerifySources,
  check: TopicCheck,
  log: DifferenceLog,
): Promise<ReadonlyMap<number, number>> {
  const lastSeen = new Map<string, number>();
  const { logEnd } = await streamTopicToEnd(
    check.kafka,
    check.ordersTopic,
    async (records) => {
      const ids = [...new Set(records.map((record) => record.headers['event-id'] ?? '').filter(isUuid))];
      const stored = await store.query<{ event_id: string; order_id: string; version: number }>(
        'SELECT event_id::text, order_id::text, version FROM events WHERE event_id = ANY($1::uuid[])',
        [ids],
      );
      const byId = new Map(stored.map((row) => [row.event_id, row]));
      const foreign: ReadRecord[] = [];
      for (const record of records) {
        const event = byId.get((record.headers['event-id'] ?? '').toLowerCase());
        if (!event || record.key !== event.order_id) {
          foreign.push(record);
          continue;
        }
        const last = lastSeen.get(event.order_id) ?? 0;
        if (event.version <= last) {
          log.figures.duplicatesOnTopic++;
          continue;
        }
        if (event.version !== last + 1) {
          log.add({
            projection: TOPIC,
            table: check.ordersTopic,
            key: event.order_id,
            field: 'first appearance',
            expected: `version ${String(last + 1)}`,
            found: `version ${String(event.version)} at ${String(record.partition)}@${record.offset}`,
          });
        }
        lastSeen.set(event.order_id, event.version);
      }
      log.figures.topicRecords += records.length;
      await sortForeign(read, check, foreign, log);
      check.onProgress?.(log.figures.topicRecords);
    },
    { idleTimeoutMs: check.idleTimeoutMs ?? 30_000, groupPrefix: GROUP_PREFIX },
  );
  await compareWithStore(store, check.ordersTopic, lastSeen, log);
  return logEnd;
}

/** Foreign records: known when a projection parked it or an operator decided on it, a difference otherwise. */
async function sortForeign(
  sql: Sql,
  check: TopicCheck,
  foreign: readonly ReadRecord[],
  log: DifferenceLog,
): Promise<void> {
  if (foreign.length === 0) return;
  const known = await sql.query<{ origin: string }>(
    `SELECT partition || '@' || "offset" AS origin FROM public.parked_events WHERE topic = $1 AND (partition, "offset") IN (SELECT * FROM unnest($2::int[], $3::bigint[]))
     UNION
     SELECT partition || '@' || "offset" FROM public.projection_decisions WHERE topic = $1 AND (partition, "offset") IN (SELECT * FROM unnest($2::int[], $3::bigint[]))`,
    [check.ordersTopic, foreign.map((record) => record.partition), foreign.map((record) => record.offset)],
  );
  const knownOrigins = new Set(known.map((row) => row.origin));
  for (const record of foreign) {
    const origin = `${String(record.partition)}@${record.offset}`;
    const what = `key ${JSON.stringify(record.key)}, event-id ${JSON.stringify(record.headers['event-id'] ?? null)}`;
    if (knownOrigins.has(origin)) {
      log.figures.knownForeignOnTopic++;
      check.onInfo?.(
        `${check.ordersTopic} ${origin}: a record not in the store (${what}), parked or decided on already`,
      );
      continue;
    }
    log.figures.foreignOnTopic++;
    log.add({
      projection: TOPIC,
      table: check.ordersTopic,
      key: origin,
      field: 'record',
      expected: '(no record: not in the store)',
      found: what,
    });
  }
}

/** Every stored event was seen: each order's first appearances reached its last stored version. */
async function compareWithStore(
  sql: Sql,
  topic: string,
  lastSeen: Map<string, number>,
  log: DifferenceLog,
): Promise<void> {
  for (let after: string | null = null; ;) {
    const rows: { order_id: string; last: number }[] = await sql.query(
      `SELECT order_id::text, max(version) AS last FROM events WHERE $1::uuid IS NULL OR order_id > $1::uuid GROUP BY order_id ORDER BY order_id LIMIT 10000`,
      [after],
    );
    for (const { order_id: orderId, last } of rows) {
      const seen = lastSeen.get(orderId) ?? 0;
      lastSeen.delete(orderId);
      if (seen >= last) continue;
      log.figures.missingOnTopic += last - seen;
      log.add({
        projection: TOPIC,
        table: topic,
        key: orderId,
        field: 'events on the topic',
        expected: `versions 1 to ${String(last)}`,
        found: seen === 0 ? 'none' : `versions 1 to ${String(seen)}`,
      });
    }
    if (rows.length < 10_000) break;
    after = rows.at(-1)?.order_id ?? null;
  }
}

/**
 * The dead-letter topic: each letter of a checked projection answers a dead-lettered parked event
 * (itself reported as parked) or an operator's decision (known, told as info). A letter with
 * neither is a difference, and so is a dead-lettered parked event with no letter.
 */
export async function checkDeadLetters(sql: Sql, check: TopicCheck, log: DifferenceLog): Promise<void> {
  const lettered = new Set<string>();
  if (await topicExists(check.kafka, check.deadLetterTopic)) {
    await streamTopicToEnd(
      check.kafka,
      check.deadLetterTopic,
      async (records) => {
        const letters = records
          .map((record) => ({ record, projection: record.headers['dlq-projection'] ?? '', origin: originOf(record) }))
          .filter((letter) => check.projections.includes(letter.projection));
        log.figures.deadLetters += letters.length;
        if (letters.length === 0) return;
        const known = await sql.query<{ key: string; kind: string }>(
          `SELECT projection || ' ' || topic || '/' || partition || '@' || "offset" AS key, 'parked' AS kind FROM public.parked_events
          WHERE dead_lettered AND projection || ' ' || topic || '/' || partition || '@' || "offset" = ANY($1::text[])
         UNION ALL
         SELECT projection || ' ' || topic || '/' || partition || '@' || "offset", decision FROM public.projection_decisions
          WHERE projection || ' ' || topic || '/' || partition || '@' || "offset" = ANY($1::text[])`,
          [letters.map((letter) => `${letter.projection} ${letter.origin}`)],
        );
        const kinds = new Map(known.map((row) => [row.key, row.kind]));
        for (const { record, projection, origin } of letters) {
          const key = `${projection} ${origin}`;
          lettered.add(key);
          const kind = kinds.get(key);
          if (kind === 'parked') continue;
          if (kind !== undefined) {
            check.onInfo?.(
              `${check.deadLetterTopic} ${String(record.partition)}@${record.offset}: ${projection} dead-lettered ${origin}, since ${kind} by an operator`,
            );
            continue;
          }
          log.add({
            projection,
            table: check.deadLetterTopic,
            key: `${String(record.partition)}@${record.offset}`,
            field: 'dead letter',
            expected: '(none: no parked event or decision for its origin)',
            found: `origin ${origin}: ${record.headers['dlq-error'] ?? ''}`,
          });
        }
      },
      { idleTimeoutMs: check.idleTimeoutMs ?? 30_000, groupPrefix: GROUP_PREFIX },
    );
  }
  const parked = await sql.query<{ projection: string; origin: string }>(
    `SELECT projection, topic || '/' || partition || '@' || "offset" AS origin FROM public.parked_events WHERE dead_lettered AND projection = ANY($1::text[])`,
    [check.projections],
  );
  for (const { projection, origin } of parked) {
    if (lettered.has(`${projection} ${origin}`)) continue;
    log.add({
      projection,
      table: check.deadLetterTopic,
      key: origin,
      field: 'dead letter',
      expected: 'a letter for the dead-lettered parked event',
      found: null,
    });
  }
}

function originOf(record: ReadRecord): string {
  const { headers } = record;
  return `${headers['dlq-origin-topic'] ?? '?'}/${headers['dlq-origin-partition'] ?? '?'}@${headers['dlq-origin-offset'] ?? '?'}`;
}
