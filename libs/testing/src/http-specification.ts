import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import type pg from 'pg';
import request, { type Response } from 'supertest';

import { EventStore } from '@app/event-store';
import type { DomainEvent } from '@app/messaging';

import { currentSchemaVersionOf, shapedLike } from './projection-specification.js';
import type { TestApp } from './test-app.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export const get = (path: string, headers?: Record<string, string>): HttpRequest => ({ method: 'GET', path, headers });
export const post = (path: string, body?: unknown, headers?: Record<string, string>): HttpRequest => ({
  method: 'POST',
  path,
  body,
  headers,
});
export const del = (path: string, headers?: Record<string, string>): HttpRequest => ({
  method: 'DELETE',
  path,
  headers,
});

/** An event the stream should have gained: its type, and the data fields named (a subset). */
export interface ExpectedEvent {
  readonly type: string;
  readonly data?: unknown;
}

export interface HttpExpectation {
  readonly status?: number;
  /** A subset of the JSON body: only the keys named are compared, however deep. */
  readonly body?: unknown;
  /** Header values (names in lower case) or patterns they must match. */
  readonly headers?: Readonly<Record<string, string | RegExp>>;
  /** Exactly the events the request appended, in order. */
  readonly appended?: readonly ExpectedEvent[];
}

export interface HttpSpecificationOptions {
  /** The app under test, started as its main.ts starts it (startTestApp). */
  readonly app: TestApp;
  /** A client on the app's database: the kit reads the event store's `events` table itself. */
  readonly db: pg.Pool;
}

interface StoredEvent {
  readonly version: number;
  readonly type: string;
  readonly data: unknown;
}

/**
 * Given/when/then over HTTP: given a stream's history (domain events appended through the event
 * store, or earlier requests), when one request, then its status, body and headers, and the events
 * it appended to the stream, read from the `events` table. Talks to the app only over HTTP.
 */
export function httpSpecification({ app, db }: HttpSpecificationOptions) {
  const send = (call: HttpRequest): Promise<Response> => {
    const agent = request(app.getHttpServer());
    const methods = {
      GET: () => agent.get(call.path),
      POST: () => agent.post(call.path),
      PUT: () => agent.put(call.path),
      PATCH: () => agent.patch(call.path),
      DELETE: () => agent.delete(call.path),
    } as const;
    const test = methods[call.method]().set(call.headers ?? {});
    return call.body === undefined ? test : test.send(call.body as object);
  };

  const stream = async (streamId: string): Promise<StoredEvent[]> =>
    (
      await db.query<StoredEvent>('SELECT version, type, data FROM events WHERE order_id = $1 ORDER BY version', [
        streamId,
      ])
    ).rows;

  const arrange = async (streamId: string, history: readonly (DomainEvent | HttpRequest)[]): Promise<void> => {
    const store = app.get(EventStore, { strict: false });
    for (const step of history) {
      if ('method' in step) {
        const response = await send(step);
        assert.ok(
          response.status < 300,
          `given ${step.method} ${step.path} answered ${response.status}: ${response.text}`,
        );
        continue;
      }
      const version = (await stream(streamId)).length;
      await store.transaction((tx) =>
        store.append(tx, streamId, version, [
          {
            eventId: randomUUID(),
            schemaVersion: currentSchemaVersionOf(step.type),
            event: step,
            occurredAt: new Date(),
            metadata: { correlationId: randomUUID(), causationId: randomUUID() },
          },
        ]),
      );
    }
  };

  const scenario = (streamId: string | undefined, history: readonly (DomainEvent | HttpRequest)[]) => ({
    when(call: HttpRequest) {
      let run: Promise<{ response: Response; before: StoredEvent[]; after: () => Promise<StoredEvent[]> }> | undefined;
      const execute = () =>
        (run ??= (async () => {
          if (streamId !== undefined) await arrange(streamId, history);
          const before = streamId === undefined ? [] : await stream(streamId);
          const response = await send(call);
          return { response, before, after: () => (streamId === undefined ? Promise.resolve([]) : stream(streamId)) };
        })());
      return {
        /** Checks what is given; resolves to the response for anything further. */
        async then(expected: HttpExpectation): Promise<Response> {
          const { response, before, after } = await execute();
          assertResponse(call, response, expected);
          if (expected.appended !== undefined) {
            if (streamId === undefined)
              throw new Error('expecting appended events needs a stream: use given(streamId)');
            const appended = (await after()).slice(before.length);
            const actual = appended.map(({ type, data }) => ({ type, data }));
            assert.deepEqual(shapedLike(actual, expected.appended), expected.appended, 'events appended');
          }
          return response;
        },
        /** A rejection: the stream is exactly as before; the response may be checked as in `then`. */
        async thenNothingAppended(expected: Omit<HttpExpectation, 'appended'> = {}): Promise<Response> {
          if (streamId === undefined) throw new Error('thenNothingAppended needs a stream: use given(streamId)');
          const { response, before, after } = await execute();
          assertResponse(call, response, expected);
          assert.deepEqual(await after(), before, `${call.method} ${call.path} changed the stream`);
          return response;
        },
      };
    },
  });

  return {
    /** The stream's history before the request: events appended in order, or requests that must succeed. */
    given: (streamId: string, history: readonly (DomainEvent | HttpRequest)[] = []) => scenario(streamId, history),
    /** A request with no stream to watch, such as one that creates it. */
    when: (call: HttpRequest) => scenario(undefined, []).when(call),
  };
}

function assertResponse(call: HttpRequest, response: Response, expected: Omit<HttpExpectation, 'appended'>): void {
  const what = `${call.method} ${call.path}`;
  if (expected.status !== undefined)
    assert.equal(response.status, expected.status, `${what} answered ${response.status}: ${response.text}`);
  if (expected.body !== undefined)
    assert.deepEqual(shapedLike(response.body, expected.body), expected.body, `${what} body`);
  if (expected.headers !== undefined) {
    const headers = response.headers as Record<string, unknown>;
    const named = Object.fromEntries(Object.keys(expected.headers).map((name) => [name, headers[name.toLowerCase()]]));
    assert.deepEqual(shapedLike(named, expected.headers), expected.headers, `${what} headers`);
  }
}
