import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

import type { OrderCommandType, OrderEventType } from '@app/orders-domain';

import { placeOrderBody } from './builders.js';

/**
 * A reference reading of the command API's contract (README "The contract", the design brief),
 * written from the contract's text and not from the app's DTOs, so fault scenarios can hold the app
 * to what the contract fixes. Given a request as the server receives it, it lists what is wrong
 * with it and which answers the contract allows:
 * - a problem the contract fixes (a string quantity, a currency that is not ISO 4217, an unknown
 *   field, a body that is not JSON) is *definite*: the answer must be one of its statuses, never a 2xx;
 * - a problem the contract leaves open (a 600-character sku, an order id that is not a UUID: 400 or
 *   404) is *open*: its statuses are allowed, and so is going on as if it were not there;
 * - with no definite problem, the statuses the order's state may give are allowed.
 * "Plain" values below are the floor any reading of the contract must accept; past them the
 * contract says nothing about lengths or characters, so they are open.
 */

export interface CommandRequest {
  readonly method: string;
  /** As sent: percent-encoded, with any query string. */
  readonly path: string;
  /** As the server receives them (names in any case). */
  readonly headers?: Readonly<Record<string, string>>;
  /** As sent; undefined or empty for no body. */
  readonly body?: string | Uint8Array;
}

export interface ContractProblem {
  readonly statuses: readonly number[];
  readonly definite: boolean;
  /** What a 400 names for it: a body field path (`lines.0.quantity`), `id`, `sku`, or a header name. */
  readonly field?: string;
  /** A body field (not a path parameter or header): a 400 naming one names every definite one. */
  readonly inBody?: boolean;
  /** The field that holds it, which a 400 may name instead (`lines` for a line that is not an object). */
  readonly orAs?: string;
  /** The stable code of a 409 the request alone decides. */
  readonly code?: string;
  readonly reason: string;
}

export interface ContractAnswer {
  /** `POST /orders/:id/lines` and so on; undefined when the path is no command's. */
  readonly route: string | undefined;
  /** Health, metrics and docs: not the command contract's business. */
  readonly outside: boolean;
  readonly problems: readonly ContractProblem[];
  /** The contract fixes that this request fails (some problem is definite). */
  readonly invalid: boolean;
  readonly statuses: readonly number[];
}

export interface ContractLimits {
  readonly bodyLimitBytes?: number;
  readonly headerLimitBytes?: number;
}

const ISO_4217 = new Set(Intl.supportedValuesOf('currency'));
const MAX_LINES = 100;
const UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;
const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;
const PLAIN_IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const PLAIN_TEXT = /^(?=.*[\p{L}\p{N}])[\p{L}\p{N} .,:;'!?()&+/-]{1,200}$/u;
const PLAIN_QUANTITY = 10_000;
const PLAIN_PRICE = 100_000_000;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Deeper than this, a body may be refused before its fields are read: the contract sets no depth. */
const PLAIN_DEPTH = 32;
const OUTSIDE = new Set(['health', 'metrics', 'docs', 'docs-json']);

type Problems = ContractProblem[];
type Route = { readonly name: string; readonly id?: string; readonly sku?: string; readonly loose: boolean };

export interface CommandRoute {
  readonly method: 'POST' | 'DELETE';
  readonly pattern: readonly string[];
}

export type Rule = (value: unknown, field: string, problems: Problems) => void;

const LINE: Readonly<Record<string, Rule>> = { sku: identifier, quantity: quantity, unitPriceMinor: price };

/** What the contract says about one command request. */
export function expectedCommandAnswer(request: CommandRequest, limits: ContractLimits = {}): ContractAnswer {
  const { bodyLimitBytes = 65_536, headerLimitBytes = 16_384 } = limits;
  const headers = normalisedHeaders(request.headers ?? {});
  const problems: Problems = [];
  if (headerBytes(headers) > headerLimitBytes) {
    return answer(undefined, false, [{ statuses: [431], definite: true, reason: 'headers over the limit' }], headers);
  }
  for (const [name, raw] of Object.entries(request.headers ?? {})) {
    if (/[\r\n\0]/.test(raw)) problems.push(open([400], `the ${name} header line is malformed`));
  }
  const pathname = request.path.split('?')[0] ?? '';
  if (OUTSIDE.has(pathname.split('/')[1]?.toLowerCase() ?? '')) return answer(undefined, true, problems, headers);
  checkUrl(request.path, problems);
  const route = matchRoute(request.method.toUpperCase(), pathname, problems);
  if (route) checkRouteParameters(route, problems);
  if (route) checkHeaders(route.name, headers, problems);
  const body = readBody(request.body, headers, bodyLimitBytes, problems);
  if (route && body.readable) checkBody(route.name, body.value, problems);
  return answer(route?.name, false, problems, headers);
}

function answer(route: string | undefined, outside: boolean, problems: Problems, headers: Headers): ContractAnswer {
  const invalid = problems.some((problem) => problem.definite);
  const statuses = new Set(problems.flatMap((problem) => problem.statuses));
  if (!invalid && route) for (const status of stateStatuses(route, headers)) statuses.add(status);
  return { route, outside, problems, invalid, statuses: [...statuses].sort((a, b) => a - b) };
}

/** A valid command's answers depend on the order: its existence, status, version and keys used before. */
function stateStatuses(route: string, headers: Headers): number[] {
  const keyed = IDEMPOTENCY_KEY.test(headers.get('idempotency-key') ?? '') ? [422] : [];
  if (route === 'POST /orders') return [201, ...keyed];
  const pinned = /^"\d+"$/.test(headers.get('if-match') ?? '') ? [412] : [];
  return [200, 404, 409, ...pinned, ...keyed];
}

type Headers = ReadonlyMap<string, string>;

/** Lower-case names; values trimmed as HTTP does, and cut where a CR, LF or NUL would end the line. */
function normalisedHeaders(headers: Readonly<Record<string, string>>): Headers {
  return new Map(
    Object.entries(headers).map(([name, value]) => [
      name.toLowerCase(),
      (value.split(/[\r\n\0]/)[0] ?? '').replace(/^[ \t]+|[ \t]+$/g, ''),
    ]),
  );
}

function headerBytes(headers: Headers): number {
  return [...headers].reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
}

function definite(statuses: number[], reason: string, extra: Partial<ContractProblem> = {}): ContractProblem {
  return { statuses, definite: true, reason, ...extra };
}

function open(statuses: number[], reason: string, extra: Partial<ContractProblem> = {}): ContractProblem {
  return { statuses, definite: false, reason, ...extra };
}

/** A URL with a broken percent-escape, a NUL or half a surrogate pair: refusing it is allowed. */
function checkUrl(path: string, problems: Problems): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    problems.push(open([400], 'the URL is not correctly percent-encoded'));
    return;
  }
  if (decoded.includes('\0') || !decoded.isWellFormed())
    problems.push(open([400], 'the URL holds a NUL or broken text'));
}

/** One command as the test support knows it: everything a test needs to send it and check its answer. */
export interface CommandEntry extends CommandRoute {
  /** The body's fields and what the contract says of each; no other field is allowed. */
  readonly body: Readonly<Record<string, Rule>>;
  /** A body the contract accepts (the fuzz mutates it; its seeded runs depend on these exact values). */
  readonly example: Readonly<Record<string, unknown>>;
  /** The event a successful request appends: what its client was told happened. */
  readonly event: OrderEventType;
}

/**
 * Every command, the one place a new command is written down for the tests: route, body fields, a
 * valid body and the event it appends. A new command fails typecheck here until its entry exists;
 * routes, bodies, the fuzz and the load's event lookup derive from it. `:id` and `:sku` stand for a
 * path segment. The order of entries is the order fuzz and injection runs send them: append, do not reorder.
 */
export const COMMAND_CATALOGUE = {
  PlaceOrder: {
    method: 'POST',
    pattern: ['orders'],
    body: { customerId: identifier, currency, lines },
    example: placeOrderBody({
      customerId: 'fuzz-customer',
      lines: [{ sku: 'FUZZ-1', quantity: 1, unitPriceMinor: 100 }],
    }),
    event: 'OrderPlaced',
  },
  AddOrderLine: {
    method: 'POST',
    pattern: ['orders', ':id', 'lines'],
    body: LINE,
    example: { sku: 'FUZZ-2', quantity: 2, unitPriceMinor: 50 },
    event: 'OrderLineAdded',
  },
  RemoveOrderLine: {
    method: 'DELETE',
    pattern: ['orders', ':id', 'lines', ':sku'],
    body: {},
    example: {},
    event: 'OrderLineRemoved',
  },
  ConfirmOrder: {
    method: 'POST',
    pattern: ['orders', ':id', 'confirm'],
    body: { paymentReference: identifier },
    example: { paymentReference: 'pay-fuzz' },
    event: 'OrderConfirmed',
  },
  ShipOrder: {
    method: 'POST',
    pattern: ['orders', ':id', 'ship'],
    body: { carrier: text, trackingNumber: identifier },
    example: { carrier: 'DHL', trackingNumber: 'T-FUZZ' },
    event: 'OrderShipped',
  },
  DeliverOrder: {
    method: 'POST',
    pattern: ['orders', ':id', 'deliver'],
    body: {},
    example: {},
    event: 'OrderDelivered',
  },
  CancelOrder: {
    method: 'POST',
    pattern: ['orders', ':id', 'cancel'],
    body: { reason: text },
    example: { reason: 'fuzzed' },
    event: 'OrderCancelled',
  },
  ReturnOrder: {
    method: 'POST',
    pattern: ['orders', ':id', 'return'],
    body: { reason: text },
    example: { reason: 'arrived damaged' },
    event: 'OrderReturned',
  },
} satisfies Readonly<Record<OrderCommandType, CommandEntry>>;

/** Events no command appends: a new event fails typecheck here until some command's entry names it. */
type UnappendedEvent = Exclude<OrderEventType, (typeof COMMAND_CATALOGUE)[OrderCommandType]['event']>;
type AppendingEveryEvent = [UnappendedEvent] extends [never]
  ? Readonly<Record<OrderCommandType, CommandEntry>>
  : { readonly eventsNoCommandAppends: UnappendedEvent };

const COMMANDS: Readonly<Record<OrderCommandType, CommandEntry>> = COMMAND_CATALOGUE satisfies AppendingEveryEvent;

/** The catalogue's command types, in its order. */
export const COMMAND_TYPES = Object.keys(COMMAND_CATALOGUE) as OrderCommandType[];

/** Each command's method and path pattern (`['orders', ':id', 'confirm']`), for tests that send every command. */
export const COMMAND_ROUTES: Readonly<Record<OrderCommandType, CommandRoute>> = COMMANDS;

/** The path of `type` with its parameters filled in (`/orders/<id>/lines/<sku>`), as given: encode them first. */
export function commandPath(
  type: OrderCommandType,
  parameters: { readonly id?: string; readonly sku?: string } = {},
): string {
  return `/${COMMANDS[type].pattern
    .map((part) => (part.startsWith(':') ? (parameters[part.slice(1) as 'id' | 'sku'] ?? part) : part))
    .join('/')}`;
}

const ROUTES: readonly CommandRoute[] = Object.values(COMMANDS);

/**
 * The command the path names. A path that names one only ignoring letter case or a trailing slash
 * may be taken for it or answer 404; a path of a command with another method answers 404 or 405.
 */
function matchRoute(method: string, pathname: string, problems: Problems): Route | undefined {
  const exact = pathname.split('/').slice(1);
  const loose = pathname
    .replace(/(?<=.)\/$/, '')
    .toLowerCase()
    .split('/')
    .slice(1);
  for (const [segments, isLoose] of [
    [exact, false],
    [loose, true],
  ] as const) {
    const found = ROUTES.find((route) => fits(route.pattern, segments));
    if (!found) continue;
    if (found.method !== method) {
      const sameOtherwise = ROUTES.some((route) => route.method === method && fits(route.pattern, segments));
      if (!sameOtherwise) {
        problems.push(definite([404, 405], `${method} is not a method of this path`));
        return undefined;
      }
      continue;
    }
    const name = `${method} /${found.pattern.join('/')}`;
    const original = pathname.split('/').slice(1);
    const id = found.pattern.indexOf(':id');
    const sku = found.pattern.indexOf(':sku');
    if (isLoose) problems.push(open([404], 'the path names the command only ignoring case or a trailing slash'));
    return {
      name,
      loose: isLoose,
      ...(id < 0 ? {} : { id: original[id] }),
      ...(sku < 0 ? {} : { sku: original[sku] }),
    };
  }
  problems.push(definite([404], 'no command has this path'));
  return undefined;
}

function fits(pattern: readonly string[], segments: readonly string[]): boolean {
  return (
    pattern.length === segments.length &&
    pattern.every((part, index) => (part.startsWith(':') ? (segments[index] ?? '') !== '' : part === segments[index]))
  );
}

function checkRouteParameters(route: Route, problems: Problems): void {
  const id = safeDecode(route.id);
  if (id !== undefined && !UUID.test(id))
    problems.push(open([400, 404], 'the order id is not a UUID, so no order has it', { field: 'id' }));
  const sku = safeDecode(route.sku);
  if (sku !== undefined && !PLAIN_IDENTIFIER.test(sku))
    problems.push(open([400, 404], 'the sku is not a plain identifier', { field: 'sku' }));
}

function safeDecode(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Idempotency-Key: 1 to 255 visible ASCII characters. If-Match: `"<version>"` or `*`. */
function checkHeaders(route: string, headers: Headers, problems: Problems): void {
  const key = headers.get('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    problems.push(
      definite([400], 'Idempotency-Key is not 1 to 255 visible ASCII characters', { field: 'Idempotency-Key' }),
    );
  }
  const ifMatch = headers.get('if-match');
  if (ifMatch === undefined || ifMatch === '*') return;
  if (route === 'POST /orders') problems.push(open([400, 412], 'If-Match on a new order'));
  else if (!/^"\d{1,9}"$/.test(ifMatch))
    problems.push(open([400, 412], 'If-Match is not the ETag of a response', { field: 'If-Match' }));
}

interface Body {
  /** The body could be read as JSON: its content decides the rest. */
  readonly readable: boolean;
  readonly value?: unknown;
}

/** Size (413), media type and coding (415), then JSON syntax (400): each must pass to read the next. */
function readBody(raw: string | Uint8Array | undefined, headers: Headers, limit: number, problems: Problems): Body {
  if (raw === undefined) return { readable: true, value: undefined };
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw);
  const coding = (headers.get('content-encoding') ?? 'identity').toLowerCase();
  // An empty body is no body, unless its coding says it is a (then broken) coded stream; what its
  // headers say about it may be held against it, or not.
  if (bytes.length === 0 && coding === 'identity') {
    const declared: Problems = [];
    mediaTypeIsJson(headers.get('content-type') ?? 'application/json', declared);
    problems.push(...declared.map((problem) => ({ ...problem, definite: false })));
    return { readable: true, value: undefined };
  }
  // Each is the contract's, and it does not say which comes first: any of their answers may come.
  // The limit may apply to the body as sent or as decoded: a coded body's decoding may fail first.
  const tooLarge = bytes.length > limit;
  if (tooLarge) problems.push(definite([413], 'the body is over the limit'));
  const json = mediaTypeIsJson(headers.get('content-type') ?? '', problems);
  const decoded = decode(bytes, coding, problems);
  if (!json || !decoded || tooLarge) return { readable: false };
  let text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(decoded);
  if (text.startsWith('\ufeff')) {
    problems.push(open([400], 'the body starts with a byte order mark'));
    text = text.slice(1);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    problems.push(definite([400], 'the body is not valid JSON'));
    return { readable: false };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(definite([400], 'the body is not a JSON object'));
    return { readable: false };
  }
  checkStrings(value, problems);
  return { readable: true, value };
}

function mediaTypeIsJson(contentType: string, problems: Problems): boolean {
  const [type = '', ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
  if (type !== 'application/json') {
    if (/^application\/[\w.+-]+\+json$/.test(type)) {
      problems.push(open([415], 'a JSON-based media type other than application/json'));
      return true;
    }
    problems.push(definite([415], 'the body is not declared JSON'));
    return false;
  }
  const charset = parameters
    .find((parameter) => parameter.startsWith('charset='))
    ?.slice(8)
    .replace(/^"|"$/g, '');
  if (charset !== undefined && charset !== '' && charset !== 'utf-8') {
    problems.push(definite([415], `JSON declared in ${charset}, not UTF-8`));
    return false;
  }
  return true;
}

/** The body as sent when its coding is identity, decoded when it is a coding that decodes; else refused. */
function decode(bytes: Buffer, name: string, problems: Problems): Buffer | undefined {
  const decoders: Record<string, (input: Buffer) => Buffer> = {
    identity: (input) => input,
    gzip: gunzipSync,
    'x-gzip': gunzipSync,
    deflate: inflateSync,
    br: brotliDecompressSync,
  };
  const decoder = decoders[name];
  if (!decoder) {
    problems.push(definite([415], `the content coding ${name} is not one this API reads`));
    return undefined;
  }
  try {
    return decoder(bytes);
  } catch {
    problems.push(definite([400, 415], `the body is not valid ${name}`));
    return undefined;
  }
}

/** Prototype keys anywhere are refused; a NUL or half a surrogate pair may be refused while parsing, unnamed. */
function checkStrings(root: object, problems: Problems): void {
  const pending: [unknown, number][] = [[root, 1]];
  let forbidden = false;
  let unstorable = false;
  let deepest = 0;
  while (pending.length > 0) {
    const [item, depth] = pending.pop() ?? [];
    if (typeof item === 'string') unstorable ||= item.includes('\0') || !item.isWellFormed();
    if (item === null || typeof item !== 'object') continue;
    deepest = Math.max(deepest, depth ?? 0);
    for (const [key, value] of Object.entries(item)) {
      forbidden ||= FORBIDDEN_KEYS.has(key);
      pending.push([value, (depth ?? 0) + 1]);
    }
  }
  if (forbidden) problems.push(definite([400], 'a key like __proto__'));
  if (unstorable) problems.push(open([400], 'a string with a NUL or half a surrogate pair'));
  if (deepest > PLAIN_DEPTH) problems.push(open([400], `the body is nested ${deepest} deep`));
}

const BODIES: ReadonlyMap<string, Readonly<Record<string, Rule>>> = new Map(
  Object.values(COMMANDS).map(({ method, pattern, body }) => [`${method} /${pattern.join('/')}`, body]),
);

function checkBody(route: string, body: unknown, problems: Problems): void {
  checkObject(BODIES.get(route) ?? {}, (body ?? {}) as Record<string, unknown>, '', problems);
  if (route === 'POST /orders') checkOrderTotals((body ?? {}) as Record<string, unknown>, problems);
}

/** Every field of `rules` present and valid, and no other field. */
function checkObject(
  rules: Readonly<Record<string, Rule>>,
  object: Record<string, unknown>,
  prefix: string,
  problems: Problems,
): void {
  for (const [name, rule] of Object.entries(rules)) rule(object[name], `${prefix}${name}`, problems);
  for (const key of Object.keys(object)) {
    if (Object.hasOwn(rules, key)) continue;
    // `channel` is announced for later (the design brief): refusing it until then is the contract too.
    const announced =
      prefix === '' &&
      key === 'channel' &&
      rules === COMMANDS.PlaceOrder.body &&
      ['web', 'store', 'phone'].includes(object[key] as string);
    problems.push(
      (announced ? open : definite)([400], `unknown field ${prefix}${key}`, { field: `${prefix}${key}`, inBody: true }),
    );
  }
}

function bad(field: string, reason: string, statuses = [400]): ContractProblem {
  return definite(statuses, `${field} ${reason}`, { field, inBody: true });
}

function unsure(field: string, reason: string): ContractProblem {
  return open([400], `${field} ${reason}`, { field, inBody: true });
}

function identifier(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'string' || value === '') problems.push(bad(field, 'must be a non-empty string'));
  else if (!PLAIN_IDENTIFIER.test(value)) problems.push(unsure(field, 'is not a plain identifier'));
}

function text(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'string' || value === '') problems.push(bad(field, 'must be a non-empty string'));
  else if (!PLAIN_TEXT.test(value)) problems.push(unsure(field, 'is not plain text'));
}

function currency(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'string' || !ISO_4217.has(value)) problems.push(bad(field, 'must be an ISO 4217 currency code'));
}

function quantity(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    problems.push(bad(field, 'must be a positive integer'));
  else if (value > PLAIN_QUANTITY) problems.push(unsure(field, 'is a large quantity'));
}

function price(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    problems.push(bad(field, 'must be an integer in minor units, not negative'));
  else if (value > PLAIN_PRICE) problems.push(unsure(field, 'is a large price'));
}

/** 1 to 100 lines, each an object of its own fields. */
function lines(value: unknown, field: string, problems: Problems): void {
  if (!Array.isArray(value)) {
    problems.push(bad(field, 'must be an array of lines'));
    return;
  }
  if (value.length < 1 || value.length > MAX_LINES)
    problems.push(bad(field, `must hold 1 to ${MAX_LINES} lines`, [400, 409]));
  for (const [index, line] of value.entries()) {
    if (line === null || typeof line !== 'object' || Array.isArray(line))
      problems.push({ ...bad(`${field}.${index}`, 'must be a line object'), orAs: field });
    else checkObject(LINE, line as Record<string, unknown>, `${field}.${index}.`, problems);
  }
}

/** Distinct skus (409 DUPLICATE_SKU, or 400), and a total within 2^53 − 1 (409 TOTAL_TOO_LARGE). */
function checkOrderTotals(body: Record<string, unknown>, problems: Problems): void {
  if (!Array.isArray(body.lines)) return;
  const items = body.lines.filter((line): line is Record<string, unknown> => line !== null && typeof line === 'object');
  const skus = items.map((line) => line.sku).filter((sku) => typeof sku === 'string');
  if (new Set(skus).size < skus.length)
    problems.push(definite([400, 409], 'two lines have one sku', { code: 'DUPLICATE_SKU' }));
  const amounts = items.map((line) => [line.quantity, line.unitPriceMinor]);
  if (!amounts.every((pair) => pair.every((amount) => Number.isSafeInteger(amount)))) return;
  const total = amounts.reduce((sum, [count, unit]) => sum + BigInt(count as number) * BigInt(unit as number), 0n);
  if (total > BigInt(Number.MAX_SAFE_INTEGER))
    problems.push(definite([409], 'the total is over 2^53 − 1', { code: 'TOTAL_TOO_LARGE' }));
}

/**
 * Why `status` with `body` is not an answer the contract allows for `expected`, or undefined when
 * it is: a status among the allowed ones; a 400 that names fields names only bad ones, and every
 * definite bad body field once it names one; a 400 without a field list only where a problem may
 * be refused before fields are known; a 409 to a new order carries the code the request decides.
 */
export function contractViolation(expected: ContractAnswer, status: number, body: string): string | undefined {
  if (expected.outside) return status >= 500 ? `${status}: a server error` : undefined;
  if (!expected.statuses.includes(status))
    return `${status} where the contract allows ${expected.statuses.join(', ')} (${reasons(expected)})`;
  const json = parseObject(body);
  if (status === 400) return fieldsViolation(expected, json);
  if (status === 409 && expected.route === 'POST /orders') {
    const codes = expected.problems.filter((problem) => problem.statuses.includes(409)).map((problem) => problem.code);
    if (!codes.includes(json.code as string))
      return `409 ${String(json.code)} where the request decides ${codes.join(' or ')}`;
  }
  return undefined;
}

function fieldsViolation(expected: ContractAnswer, json: Record<string, unknown>): string | undefined {
  const candidates = expected.problems.filter((problem) => problem.statuses.includes(400));
  if (!Array.isArray(json.fields)) {
    if (candidates.some((problem) => problem.field === undefined)) return undefined;
    return `a 400 without the fields it must name (${reasons(expected)})`;
  }
  const named = (json.fields as { field?: unknown }[]).map((entry) => String(entry.field));
  const stray = named.filter((field) => !candidates.some((problem) => names(field, problem)));
  if (stray.length > 0) return `the 400 names ${stray.join(', ')}, which the request has right (${reasons(expected)})`;
  const bodyFields = candidates.filter((problem) => problem.inBody === true);
  if (!named.some((field) => bodyFields.some((problem) => names(field, problem)))) return undefined;
  const missed = bodyFields.filter((problem) => problem.definite && !named.some((field) => names(field, problem)));
  return missed.length > 0
    ? `the 400 names ${named.join(', ')} but not ${missed.map((problem) => problem.field).join(', ')}`
    : undefined;
}

/** `field` names the problem's field, something inside it, or the field that holds it where allowed. */
function names(field: string, problem: ContractProblem): boolean {
  if (problem.field === undefined) return false;
  return field === problem.field || field.startsWith(`${problem.field}.`) || field === problem.orAs;
}

function parseObject(body: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function reasons(expected: ContractAnswer): string {
  return (
    expected.problems.map((problem) => `${problem.definite ? '' : 'open: '}${problem.reason}`).join('; ') ||
    'a valid request'
  );
}
