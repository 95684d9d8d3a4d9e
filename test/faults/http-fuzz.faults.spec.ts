import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';

import { ProjectionWorkerModule, attachProjectionsTransport } from '@app/projection-worker';
import { QueryApiModule } from '@app/query-api';
import {
  AcknowledgedCommands,
  AppProcess,
  COMMAND_CATALOGUE,
  COMMAND_TYPES,
  assertGuarantees,
  contractViolation,
  createTestEnvironment,
  eventTypeOfCommand,
  expectedCommandAnswer,
  inParallel,
  placeOrderBody,
  reportFigure,
  startTestApp,
  type CommandEntry,
  type TestApp,
  type TestEnvironment,
} from '@app/testing';

const COMMAND_REQUESTS = 10_000;
const QUERY_REQUESTS = 1_000;
const BIG_BODIES = 4;
const CONCURRENCY = 8;
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
/** RSS may grow this much over the run (allocator slack, JIT, pools), no more: a leak per request would pass it. */
const RSS_GROWTH_BOUND_MB = 150;

interface FuzzRequest {
  readonly api: 'command' | 'query';
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Built when sent, so ten thousand requests and their deep or huge bodies are never all in memory. */
  readonly body?: () => string | Uint8Array;
  readonly kind: string;
}

// ---- values a careless client, or a hostile one, puts into JSON ----

/** Number tokens JSON.stringify cannot produce: NaN and Infinity (not JSON at all), overflow, precision loss, odd notations. */
const RAW_NUMBERS = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  '-1e999',
  '1e-999',
  '123456789012345678901234567890',
  '9007199254740993',
  '-0',
  '0x10',
  '01',
  '.5',
  '+1',
  '1.0',
  '2e3',
  '-1',
];
const RAW = '\u0000raw\u0000';

const textWithControls = fc.string({
  unit: fc.constantFrom(
    '\u0000',
    '\u0007',
    '\b',
    '\t',
    '\n',
    '\r',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u2028',
    '\u202e',
    '\ufeff',
    '\ud800',
    '\udfff',
    'a',
    'é',
    '😀',
    '"',
    '\\',
    '/',
  ),
  maxLength: 20,
});
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...RAW_NUMBERS).map((token) => `${RAW}${token}${RAW}`),
  fc.double(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((value) => `${RAW}${value.toString()}${RAW}`),
  fc.string({ unit: 'binary', maxLength: 40 }),
  textWithControls,
  fc.constantFrom(
    null,
    true,
    false,
    '',
    ' ',
    [],
    {},
    'EUR',
    'eur',
    'ZZZ',
    'XXX',
    '5',
    '1',
    '1e3',
    'BOOK-1',
    'ünïcødé',
    'a'.repeat(300),
  ),
  fc.jsonValue({ maxDepth: 3 }),
);

/** JSON text of `value` with raw tokens spliced in where the generator asked for them. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item)).replace(
    new RegExp(`"${JSON.stringify(RAW).slice(1, -1)}(.*?)${JSON.stringify(RAW).slice(1, -1)}"`, 'g'),
    '$1',
  );
}

/** The order commands sent to `/orders/:id/<action>`, from the catalogue, so a new one is fuzzed too. */
const ORDER_ACTIONS = Object.values<CommandEntry>(COMMAND_CATALOGUE)
  .filter(({ method, pattern }) => method === 'POST' && pattern.length === 3 && pattern[1] === ':id')
  .map(({ pattern }) => `/${pattern[2] ?? ''}`);

/** The catalogue's valid body of the command whose route ends as the path does (its last segment named, not a parameter). */
function validBody(path: string): Record<string, unknown> {
  const last = path.split('/').at(-1);
  const command = COMMAND_TYPES.find((type) => COMMAND_CATALOGUE[type].pattern.at(-1) === last);
  return command ? structuredClone(COMMAND_CATALOGUE[command].example) : {};
}

/** Replaces the value at a path chosen by `choice` (a field, a line field, or a new key) with `value`. */
function mutate(
  body: Record<string, unknown>,
  choice: number,
  value: unknown,
  extraKey: string,
): Record<string, unknown> {
  const copy = structuredClone(body);
  const fields = Object.keys(copy);
  const lines = Array.isArray(copy.lines) ? (copy.lines as Record<string, unknown>[]) : undefined;
  const targets = fields.length + (lines ? 3 : 0) + 1;
  const target = choice % targets;
  if (target < fields.length) copy[fields[target] ?? ''] = value;
  else if (lines && target < fields.length + 3)
    (lines[0] ?? {})[['sku', 'quantity', 'unitPriceMinor'][target - fields.length] ?? 'sku'] = value;
  else Object.defineProperty(copy, extraKey, { value, enumerable: true });
  return copy;
}

function deeplyNested(depth: number, shape: 'array' | 'object' | 'in-field'): string {
  if (shape === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (shape === 'object') return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  return `{"customerId":"c","currency":"EUR","lines":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

const BAD_JSON = [
  '',
  '{',
  '}',
  '{"a":1',
  '{"a":1,}',
  "{'a':1}",
  '{"a":undefined}',
  '\ufeff{}',
  '{"a":"\\x41"}',
  '{"a":"\\u12"}',
  'nul',
  '{"a":1}{"b":2}',
  '[1,]',
  '{"a" 1}',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=klingon',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/merge-patch+json',
  'application/json, text/plain',
  '*/*',
  '',
];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Header values fetch can send (Latin-1, no CR, LF or NUL); the rest of the header space is the injection scenario's. */
const headerValue = fc.oneof(
  fc.string({
    unit: fc.constantFrom(...'abcXYZ019 -_:;,."\'*/\\=()<>@?{}[]~!#$%&^|é\u00ff\t'.split('')),
    maxLength: 40,
  }),
  fc.constantFrom(
    '"1"',
    '"0"',
    '"-1"',
    '"999999999999"',
    '*',
    'W/"1"',
    '"1", "2"',
    '1',
    'a'.repeat(300),
    'gzip',
    'deflate',
    'br',
  ),
);

/** `arbitrary` in `percent` of the cases, otherwise undefined (the header is not sent). */
function sometimes<T>(percent: number, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(undefined) }, { weight: percent, arbitrary });
}

function commandRequests(orderIds: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const orderId = fc.oneof(
    fc.constantFrom(...orderIds),
    fc.constantFrom(
      '00000000-0000-0000-0000-000000000000',
      'not-a-uuid',
      '..',
      '%2e%2e',
      'NaN',
      '1e999',
      '-1',
      encodeURIComponent('"; DROP TABLE events; --'),
    ),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
  );
  const path = fc.oneof(
    { weight: 3, arbitrary: fc.constant('/orders') },
    {
      weight: 6,
      arbitrary: fc.tuple(orderId, fc.constantFrom(...ORDER_ACTIONS)).map(([id, action]) => `/orders/${id}${action}`),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          orderId,
          fc.oneof(fc.constantFrom('FUZZ-1', 'FUZZ-2', 'BOOK-1'), fc.string({ maxLength: 30 }).map(encodeURIComponent)),
        )
        .map(([id, sku]) => `/orders/${id}/lines/${sku}`),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((rest) => `/${encodeURIComponent(rest)}`) },
  );
  const body = fc.oneof(
    { weight: 2, arbitrary: fc.constant((p: string) => toJson(validBody(p))) },
    {
      weight: 8,
      arbitrary: fc
        .tuple(fc.nat(), weirdValue, fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 10 })))
        .map(
          ([choice, value, key]) =>
            (p: string) =>
              toJson(mutate(validBody(p), choice, value, key)),
        ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom(10, 100, 1_000, 10_000, 200_000),
          fc.constantFrom<'array' | 'object' | 'in-field'>('array', 'object', 'in-field'),
        )
        .map(
          ([depth, shape]) =>
            () =>
              deeplyNested(depth, shape),
        ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...PROTO_KEYS), fc.nat({ max: 4 }), fc.nat())
        .map(([key, depth, choice]) => (p: string) => {
          let nested = `{"${key}":{"polluted":true}}`;
          for (let level = 0; level < depth; level++) nested = `{"lines":[${nested}]}`;
          const valid = toJson(validBody(p));
          return choice % 2 === 0 ? nested : `${valid.slice(0, -1)}${valid.length > 2 ? ',' : ''}"${key}":{"x":1}}`;
        }),
    },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((value) => () => toJson(value)) },
    {
      weight: 2,
      arbitrary: fc
        .oneof(fc.constantFrom(...BAD_JSON), fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }))
        .map((text) => () => text),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => () => bytes) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const headers = fc
    .record({
      'Content-Type': fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/json') },
        { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        { weight: 1, arbitrary: headerValue },
      ),
      'Idempotency-Key': sometimes(30, headerValue),
      'If-Match': sometimes(15, headerValue),
      'X-Correlation-Id': sometimes(20, headerValue),
      traceparent: sometimes(10, headerValue),
      'Content-Encoding': sometimes(4, fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress', 'x-unknown')),
      'X-Huge': sometimes(1, fc.constantFrom('h'.repeat(20_000), 'h'.repeat(70_000))),
    })
    .map((all) =>
      Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined)),
    );
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom('POST', 'DELETE') },
    { weight: 1, arbitrary: fc.constantFrom('PUT', 'PATCH', 'GET', 'OPTIONS', 'HEAD') },
  );
  return fc.record({ method, path, body, headers }).map(({ method: m, path: p, body: b, headers: h }) => {
    const realMethod =
      m === 'POST' && p.includes('/lines/') ? 'DELETE' : m === 'DELETE' && !p.includes('/lines/') ? 'POST' : m;
    const sendsBody = b !== undefined && realMethod !== 'GET' && realMethod !== 'HEAD';
    return {
      api: 'command',
      method: realMethod,
      path: p,
      headers: sendsBody
        ? h
        : Object.fromEntries(
            Object.entries(h).filter(([name]) => name !== 'Content-Type' && name !== 'Content-Encoding'),
          ),
      ...(sendsBody ? { body: () => b(p) } : {}),
      kind: 'command',
    } satisfies FuzzRequest;
  });
}

function queryRequests(orderIds: readonly string[]): fc.Arbitrary<FuzzRequest> {
  const value = fc.oneof(
    fc.constantFrom(
      '',
      'NaN',
      '1e999',
      '-1',
      '0',
      '101',
      '5m',
      '1h',
      'PLACED',
      'placed',
      '2026-01-01T00:00:00Z',
      'fuzz-customer',
      '\u0000',
      'a'.repeat(300),
    ),
    fc.string({ maxLength: 30 }),
  );
  const queryString = fc
    .array(
      fc.tuple(
        fc.constantFrom(
          'minVersion',
          'customerId',
          'status',
          'limit',
          'cursor',
          'granularity',
          'from',
          'to',
          '__proto__',
          'constructor',
          'x',
          'limit[]',
          'status[0]',
        ),
        value,
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([key, item]) => `${encodeURIComponent(key)}=${encodeURIComponent(item)}`).join('&'));
  const segment = fc.oneof(fc.constantFrom(...orderIds), fc.string({ maxLength: 40 }).map(encodeURIComponent));
  const path = fc.oneof(
    fc.tuple(segment, queryString).map(([id, q]) => `/orders/${id}?${q}`),
    queryString.map((q) => `/orders?${q}`),
    segment.map((id) => `/customers/${id}`),
    queryString.map((q) => `/stats/sales?${q}`),
  );
  return path.map((p) => ({ api: 'query', method: 'GET', path: p, headers: {}, kind: 'query' }) satisfies FuzzRequest);
}

/** The 10 MB bodies: valid JSON with a huge field, a huge nesting prefix, and a huge body sent without a length (chunked). */
function bigRequests(orderId: string): FuzzRequest[] {
  const tenMb = 10 * 1024 * 1024;
  const json = { 'Content-Type': 'application/json' };
  return [
    {
      api: 'command',
      method: 'POST',
      path: '/orders',
      headers: json,
      body: () => toJson({ ...placeOrderBody(), customerId: 'x'.repeat(tenMb) }),
      kind: 'big',
    },
    {
      api: 'command',
      method: 'POST',
      path: `/orders/${orderId}/cancel`,
      headers: json,
      body: () => '['.repeat(tenMb),
      kind: 'big',
    },
    {
      api: 'command',
      method: 'POST',
      path: `/orders/${orderId}/lines`,
      headers: json,
      body: () => `{"sku":"${'9'.repeat(tenMb)}"}`,
      kind: 'big',
    },
    {
      api: 'command',
      method: 'POST',
      path: '/orders',
      headers: { ...json, 'X-Chunked': 'yes' },
      body: () =>
        toJson({ lines: Array.from({ length: 200_000 }, () => ({ sku: 'S', quantity: 1, unitPriceMinor: 1e300 })) }),
      kind: 'big',
    },
  ].slice(0, BIG_BODIES) as FuzzRequest[];
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

/**
 * Scenario 11: ten thousand seeded, generated requests against the command API (run as its own
 * process, so its memory can be read) and a thousand against the query API: deep nesting, prototype
 * keys, NaN and huge numbers, control characters, wrong types, bad JSON, bad headers, and a few
 * 10 MB bodies. Every request gets its answer (none sees a broken connection, even a body the server
 * refuses before reading it); no answer is a 5xx; every command's answer is one the contract allows
 * (a reference reading of it, command-contract.ts, decides: a request the contract fixes as invalid
 * gets exactly its status and names its bad fields); the events stored equal the events the 2xx
 * answers account for; the process's memory stays bounded; and afterwards the full oracle holds.
 */
describe('fault: HTTP fuzzing with fast-check', () => {
  let env: TestEnvironment;
  let commandApi: AppProcess;
  let worker: TestApp;
  let queryApi: TestApp;
  let commandUrl: string;
  let queryUrl: string;

  before(async () => {
    env = await createTestEnvironment('http_fuzz', { partitions: 3 });
    commandApi = new AppProcess('command-api', env.config);
    [worker, queryApi] = await Promise.all([
      startTestApp(ProjectionWorkerModule, env.config, async (app) => {
        attachProjectionsTransport(app);
        await app.startAllMicroservices();
      }),
      startTestApp(QueryApiModule, env.config),
      commandApi.ready,
    ]);
    await queryApi.listen(0, '127.0.0.1');
    queryUrl = await queryApi.getUrl();
    commandUrl = commandApi.url;
  });

  after(async () => {
    await commandApi.stop('SIGKILL');
    await Promise.all([worker.close(), queryApi.close()]);
    await env.dispose();
  });

  it('answers every request, never with a 5xx, stores no event from a rejected request, and keeps its memory bounded', async () => {
    const started = performance.now();
    console.log(`http-fuzz seed ${SEED} (FUZZ_SEED=${SEED} reproduces this run)`);
    const pid = commandApi.pid;
    assert.ok(pid !== undefined);
    const acknowledged = new AcknowledgedCommands();
    const events = async (): Promise<number> =>
      (await env.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]?.n ?? -1;

    // Real orders, so that fuzzed commands reach the decider and the store, not only validation.
    const orderIds = await inParallel(20, 4, async () => {
      const response = await fetch(`${commandUrl}/orders`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(placeOrderBody({ customerId: 'fuzz-customer' })),
      });
      assert.equal(response.status, 201);
      const { orderId } = (await response.json()) as { orderId: string };
      acknowledged.record(orderId, 1, 'OrderPlaced');
      return orderId;
    });

    const requests = [
      ...fc.sample(commandRequests(orderIds), { numRuns: COMMAND_REQUESTS - BIG_BODIES, seed: SEED }),
      ...fc.sample(queryRequests(orderIds), { numRuns: QUERY_REQUESTS, seed: SEED + 1 }),
    ];
    // Spread the query requests and big bodies through the run, deterministically.
    const shuffled =
      fc.sample(fc.shuffledSubarray(requests, { minLength: requests.length }), { numRuns: 1, seed: SEED + 2 })[0] ??
      requests;
    const big = bigRequests(orderIds[0] ?? '');
    for (const [index, request] of big.entries())
      shuffled.splice(Math.floor(((index + 1) * shuffled.length) / (big.length + 1)), 0, request);

    const counts = {
      answered: 0,
      byStatus: new Map<number, number>(),
      eventsAnswered: 0,
      commands: 0,
      queries: 0,
      big: 0,
      heldToContract: 0,
      knownInvalid: 0,
      knownInvalidAccepted: 0,
    };
    const serverErrors: string[] = [];
    const offContract: string[] = [];
    const limits = { bodyLimitBytes: env.config.http.bodyLimitBytes };
    const unanswered: string[] = [];
    const send = async (request: FuzzRequest): Promise<void> => {
      const base = request.api === 'command' ? commandUrl : queryUrl;
      const body = request.body?.();
      let response: Response;
      try {
        response = await fetch(`${base}${request.path}`, {
          method: request.method,
          headers: request.headers,
          // A stream has no length: the body goes chunked, and the limit must hold without Content-Length.
          ...(body === undefined
            ? {}
            : request.headers['X-Chunked']
              ? { body: new Blob([body]).stream(), duplex: 'half' }
              : { body }),
        });
      } catch (error) {
        // Every request gets its answer, whatever it holds: a broken connection is a failure, never retried.
        const cause = (error as { cause?: unknown }).cause;
        unanswered.push(
          `${request.method} ${request.path} ${JSON.stringify(Object.keys(request.headers))}: ${String(error)} (${String(cause)})`,
        );
        return;
      }
      const text = await response.text();
      counts.answered++;
      counts[request.kind === 'big' ? 'big' : request.api === 'command' ? 'commands' : 'queries']++;
      counts.byStatus.set(response.status, (counts.byStatus.get(response.status) ?? 0) + 1);
      const described = `${request.method} ${request.path} ${JSON.stringify(request.headers).slice(0, 200)} ${String(body).slice(0, 200)} → ${response.status} ${text.slice(0, 300)}`;
      if (response.status >= 500) serverErrors.push(described);
      if (request.api === 'command') {
        const expected = expectedCommandAnswer(
          {
            method: request.method,
            path: request.path,
            headers: request.headers,
            ...(body === undefined ? {} : { body }),
          },
          limits,
        );
        const violation = contractViolation(expected, response.status, text);
        if (violation !== undefined) offContract.push(`${violation}: ${described}`);
        counts.heldToContract++;
        if (expected.invalid) counts.knownInvalid++;
        if (expected.invalid && response.ok) counts.knownInvalidAccepted++;
      }
      if (request.api === 'command' && response.ok && response.headers.get('idempotent-replayed') !== 'true') {
        const answer = JSON.parse(text) as { orderId: string; version: number };
        acknowledged.record(
          answer.orderId,
          answer.version,
          eventTypeOfCommand(request.method === 'DELETE' ? 'delete' : 'post', request.path),
        );
        counts.eventsAnswered++; // every command decides exactly one event
      }
    };

    const eventsBefore = await events();
    // Warm up (JIT, pools, buffers) before the first memory sample.
    const warmUp = 500;
    await inParallel(warmUp, CONCURRENCY, async (index) => {
      await send(shuffled[index]!);
    });
    const rssBefore = rssMb(pid);
    await inParallel(shuffled.length - warmUp, CONCURRENCY, async (index) => {
      await send(shuffled[warmUp + index]!);
    });
    const rssAfter = rssMb(pid);
    const fuzzSeconds = (performance.now() - started) / 1000;
    const eventsAfter = await events();

    assert.equal(unanswered.length, 0, `every request gets its answer: ${unanswered.slice(0, 5).join('; ')}`);
    assert.equal(counts.answered, shuffled.length);
    assert.equal(counts.commands + counts.big, COMMAND_REQUESTS);
    assert.equal(counts.big, BIG_BODIES);
    assert.equal(counts.queries, QUERY_REQUESTS);
    assert.equal(serverErrors.length, 0, `no 5xx: ${serverErrors.slice(0, 5).join('; ')}`);
    assert.equal(
      offContract.length,
      0,
      `every command answered as the contract allows (${offContract.length} not):\n${offContract.slice(0, 10).join('\n')}`,
    );
    assert.equal(counts.heldToContract, COMMAND_REQUESTS);
    assert.equal(counts.knownInvalidAccepted, 0);
    assert.ok(
      counts.knownInvalid > COMMAND_REQUESTS / 2,
      `most fuzzed commands are known-invalid (${counts.knownInvalid})`,
    );
    assert.ok(counts.eventsAnswered > 0, 'some fuzzed commands are valid and reach the store');
    assert.equal(
      eventsAfter - eventsBefore,
      counts.eventsAnswered,
      'every stored event belongs to a 2xx answer: none from a rejected request',
    );
    assert.ok(rssAfter - rssBefore < RSS_GROWTH_BOUND_MB, `RSS grew from ${rssBefore} MB to ${rssAfter} MB`);

    const figures = await assertGuarantees(env, acknowledged);
    assert.equal(figures.acknowledged, orderIds.length + counts.eventsAnswered);
    assert.equal(figures.lost, 0);
    assert.ok(figures.orders >= orderIds.length, 'the read models were compared over every order placed');
    const statuses = [...counts.byStatus]
      .sort(([a], [b]) => a - b)
      .map(([status, count]) => `${status}×${count}`)
      .join(' ');
    console.log(`http-fuzz statuses: ${statuses}; RSS ${rssBefore} MB to ${rssAfter} MB; ${fuzzSeconds.toFixed(1)} s`);
    // Each figure is asserted above (the seed and the sizes are the run's inputs, counted as sent); the
    // yes stands for assertGuarantees, which throws unless every read model equals the fold.
    reportFigure('http-fuzz', {
      seed: SEED,
      requests: shuffled.length,
      commandRequests: counts.commands + counts.big,
      queryRequests: counts.queries,
      bodiesOf10Mb: counts.big,
      answered: counts.answered,
      unanswered: unanswered.length,
      serverErrors: serverErrors.length,
      commandAnswersHeldToContract: counts.heldToContract,
      knownInvalid: counts.knownInvalid,
      knownInvalidAccepted: counts.knownInvalidAccepted,
      commandsAccepted: counts.eventsAnswered,
      eventsFromRejectedRequests: eventsAfter - eventsBefore - counts.eventsAnswered,
      rssGrowthMb: rssAfter - rssBefore,
      rssGrowthBoundMb: RSS_GROWTH_BOUND_MB,
      acknowledged: figures.acknowledged,
      lost: figures.lost,
      readModelsEqualToFold: true,
    });
  });
});
