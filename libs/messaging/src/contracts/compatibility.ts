import { DOCUMENT_KEYS, ENVELOPE_SCHEMA_PATH, HEADERS_SCHEMA_PATH } from './published-contract.js';

type JsonObject = Readonly<Record<string, unknown>>;

/** One difference between the released contract and this commit's. */
export interface ContractChange {
  /** `OrderPlaced v1`, `envelope` or `headers`. */
  readonly subject: string;
  readonly change: string;
  /** Whether a reader or a record of the released contract would break: the gate fails on these. */
  readonly breaking: boolean;
}

/** Keywords that describe a schema without constraining it: changing them changes nothing a reader sees. */
const ANNOTATIONS = new Set([...DOCUMENT_KEYS, 'examples', 'default', '$comment', 'deprecated']);
/** Keywords whose larger value admits less (`minimum`), and whose smaller value admits less (`maximum`). */
const LOWER_BOUNDS = new Set(['minimum', 'exclusiveMinimum', 'minLength', 'minItems', 'minProperties']);
const UPPER_BOUNDS = new Set(['maximum', 'exclusiveMaximum', 'maxLength', 'maxItems', 'maxProperties']);

/**
 * The released schemas (docs/contracts, keyed by path) against this commit's. The rules:
 *
 * - a released event type or version must still be there: its records are in the log forever;
 * - a superseded version (a later one exists) never changes at all: no one writes it any more, so a
 *   change can only misdescribe records already written;
 * - the latest version of a type, the envelope and the headers may only gain optional fields; removing or
 *   renaming a field, making one required or optional, changing a type, an enum, a bound or a
 *   pattern all break a reader on one side or the other: that is a new version with an upcaster;
 * - a new event type, or a new version of one, is always fine.
 */
export function compareContracts(
  released: ReadonlyMap<string, JsonObject>,
  current: ReadonlyMap<string, JsonObject>,
): ContractChange[] {
  const changes: ContractChange[] = [];
  const latestReleased = latestVersions(released.keys());
  const latestCurrent = latestVersions(current.keys());
  for (const [path, before] of released) {
    const subject = subjectOf(path);
    const after = current.get(path);
    if (after === undefined) {
      const { type } = parsePath(path) ?? { type: path };
      changes.push({
        subject,
        change: latestCurrent.has(type)
          ? 'version removed: records written with it are still in the log, and readers must upcast them'
          : 'event type removed: its records are still in the log, and readers must read them',
        breaking: true,
      });
      continue;
    }
    const differences: Difference[] = [];
    diff(before, after, rootOf(path), differences);
    const parsed = parsePath(path);
    const superseded = parsed !== undefined && (latestReleased.get(parsed.type) ?? 0) > parsed.version;
    if (superseded && (differences.length > 0 || !same(withoutDocumentKeys(before), withoutDocumentKeys(after)))) {
      const what = differences.length > 0 ? differences.map((d) => d.text).join('; ') : 'its descriptions';
      changes.push({
        subject,
        change: `changed in place (${what}): a superseded version never changes, its records are already written`,
        breaking: true,
      });
      continue;
    }
    for (const { text, breaking } of differences) changes.push({ subject, change: text, breaking });
  }
  for (const path of current.keys()) {
    if (released.has(path)) continue;
    const parsed = parsePath(path);
    const change =
      parsed === undefined
        ? 'published for the first time'
        : latestReleased.has(parsed.type)
          ? 'new schema version'
          : 'new event type';
    changes.push({ subject: subjectOf(path), change, breaking: false });
  }
  return changes;
}

interface Difference {
  readonly text: string;
  readonly breaking: boolean;
}

function diff(before: JsonObject, after: JsonObject, at: string, out: Difference[]): void {
  const beforeProperties = objectAt(before, 'properties');
  const afterProperties = objectAt(after, 'properties');
  const beforeRequired = new Set(stringsAt(before, 'required'));
  const afterRequired = new Set(stringsAt(after, 'required'));
  const removed = Object.keys(beforeProperties).filter((name) => !Object.hasOwn(afterProperties, name));
  const added = Object.keys(afterProperties).filter((name) => !Object.hasOwn(beforeProperties, name));

  for (const name of removed) {
    // A field gone and another, shaped the same, arrived: most likely a rename, which breaks all the same.
    const renamedTo = added.find((candidate) => same(strip(beforeProperties[name]), strip(afterProperties[candidate])));
    if (renamedTo !== undefined) {
      added.splice(added.indexOf(renamedTo), 1);
      out.push({ text: `${at}.${name} renamed to ${renamedTo}`, breaking: true });
    } else {
      out.push({ text: `${at}.${name} removed`, breaking: true });
    }
  }
  for (const name of added) {
    out.push(
      afterRequired.has(name)
        ? { text: `${at}.${name} added as required: records written before lack it`, breaking: true }
        : { text: `${at}.${name} added (optional)`, breaking: false },
    );
  }
  for (const name of Object.keys(beforeProperties)) {
    if (!Object.hasOwn(afterProperties, name)) continue;
    if (!beforeRequired.has(name) && afterRequired.has(name))
      out.push({ text: `${at}.${name} made required: records written before may lack it`, breaking: true });
    if (beforeRequired.has(name) && !afterRequired.has(name))
      out.push({ text: `${at}.${name} made optional: readers of this version count on it`, breaking: true });
    diff(asObject(beforeProperties[name]), asObject(afterProperties[name]), `${at}.${name}`, out);
  }
  if (before.items !== undefined || after.items !== undefined)
    diff(asObject(before.items), asObject(after.items), `${at}[]`, out);

  const handled = new Set(['properties', 'required', 'items', ...ANNOTATIONS]);
  const keywords = new Set([...Object.keys(before), ...Object.keys(after)].filter((key) => !handled.has(key)));
  for (const keyword of keywords) {
    if (same(before[keyword], after[keyword])) continue;
    if (keyword === 'enum' && sameSet(before[keyword], after[keyword])) continue; // reordered: admits the same
    out.push({ text: `${at} ${keywordChange(keyword, before[keyword], after[keyword])}`, breaking: true });
  }
}

/** How a constraint changed, said as narrowed (admits less: old records may break it) or widened (readers meet values they never saw). */
function keywordChange(keyword: string, before: unknown, after: unknown): string {
  const shown = `${keyword} ${show(before)} → ${show(after)}`;
  if (keyword === 'type') {
    const narrowed = before === 'number' && after === 'integer';
    return `${narrowed ? 'narrowed' : 'type changed'}: ${shown}`;
  }
  if (keyword === 'enum' && Array.isArray(before) && Array.isArray(after)) {
    const lost = before.filter((value) => !after.some((other) => same(value, other)));
    return lost.length > 0
      ? `narrowed (${show(lost)} no longer allowed): ${shown}`
      : `widened (readers that handle every value meet one they do not know; a new version lets them upcast): ${shown}`;
  }
  if (typeof before === 'number' || typeof after === 'number') {
    const lower = LOWER_BOUNDS.has(keyword);
    const upper = UPPER_BOUNDS.has(keyword);
    if (lower || upper) {
      const tighter =
        before === undefined ||
        (typeof after === 'number' && typeof before === 'number' && (lower ? after > before : after < before));
      return `${after !== undefined && tighter ? 'narrowed' : 'widened'}: ${shown}`;
    }
  }
  return `changed: ${shown}`;
}

function latestVersions(paths: Iterable<string>): Map<string, number> {
  const latest = new Map<string, number>();
  for (const path of paths) {
    const parsed = parsePath(path);
    if (parsed) latest.set(parsed.type, Math.max(latest.get(parsed.type) ?? 0, parsed.version));
  }
  return latest;
}

function parsePath(path: string): { type: string; version: number } | undefined {
  const match = /^events\/([^/]+)\/v([1-9][0-9]*)\.schema\.json$/.exec(path);
  return match?.[1] === undefined ? undefined : { type: match[1], version: Number(match[2]) };
}

function rootOf(path: string): string {
  if (path === ENVELOPE_SCHEMA_PATH) return 'envelope';
  return path === HEADERS_SCHEMA_PATH ? 'headers' : 'data';
}

function subjectOf(path: string): string {
  if (path === ENVELOPE_SCHEMA_PATH || path === HEADERS_SCHEMA_PATH) return rootOf(path);
  const parsed = parsePath(path);
  return parsed ? `${parsed.type} v${String(parsed.version)}` : path;
}

function strip(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !ANNOTATIONS.has(key))
      .map(([key, inner]) => [key, strip(inner)]),
  );
}

function withoutDocumentKeys(schema: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => !DOCUMENT_KEYS.includes(key)));
}

function sameSet(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((value) => b.some((other) => same(value, other)));
}

function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null)
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as JsonObject)[key])}`)
      .join(',')}}`;
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function show(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}

function asObject(value: unknown): JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
}

function objectAt(schema: JsonObject, key: string): JsonObject {
  return asObject(schema[key]);
}

function stringsAt(schema: JsonObject, key: string): string[] {
  const value = schema[key];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
