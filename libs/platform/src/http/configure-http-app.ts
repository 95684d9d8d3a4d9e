import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { finished } from 'node:stream';

import {
  BadRequestException,
  Catch,
  HttpException,
  ValidationPipe,
  type ArgumentsHost,
  type INestApplication,
  type ValidationError,
} from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import bodyParser from 'body-parser';
import { parse as parseContentType } from 'content-type';
import etag from 'etag';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fresh from 'fresh';
import typeIs from 'type-is';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { correlateRequests } from '../logging/request-context.js';
import { Metrics } from '../metrics/metrics.js';
import { answerMalformedRequests, keepIdleConnectionsLonger } from './connections.js';
import { setRouteOf } from './http-route.js';

/** One invalid field of a request, named by its path (`lines.0.quantity`). */
export interface FieldError {
  readonly field: string;
  readonly errors: readonly string[];
}

const JSON_TYPES = ['application/json', 'application/*+json'];
/** Keys that would reach an object's prototype when copied onto a class instance. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Node's own default for how long a request may take to arrive (Fastify's is none): a slow client gets a 408. */
const REQUEST_TIMEOUT_MS = 300_000;
/** As long as a URL may be (Node's 16 kB of headers): a long id is answered by its validation (400), not the router. */
const MAX_PARAM_LENGTH = 16_384;

/**
 * The HTTP adapter of every app: Fastify, whose request handling costs less CPU than Express's
 * (docs/benchmarks.md, "A fifth pass"). Create the app with it and `{ bodyParser: false }`, then
 * `configureHttpApp`: each app's serve.ts and `startTestApp` in tests do both.
 */
export function createHttpAdapter(): FastifyAdapter {
  return new FastifyAdapter({
    requestTimeout: REQUEST_TIMEOUT_MS,
    // A request on a kept-alive connection during shutdown is still served, as it always was.
    return503OnClosing: false,
    // Node's parser errors (431, 400, 408) are answered by answerMalformedRequests, on the server.
    clientErrorHandler: () => undefined,
    // As Express routed: `/Orders/…` is `/orders/…` (parameters keep their case), `/orders/` is `/orders`.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, ignoreTrailingSlash: true, caseSensitive: false },
    // A request target Node's parser lets through that is neither a path, an absolute http(s) URL nor
    // `*` (`GET *orders`): Fastify's router may answer it 404 outside every hook (no correlation id;
    // it did with the query API's routes); as a path it reaches the not-found route, as on Express.
    rewriteUrl: (request: IncomingMessage) => routableTarget(request.url ?? '/'),
    // The router refuses a malformed percent-encoding before any hook runs: the answer still gets the
    // headers every answer gets (configureHttpApp's).
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const answer = (): void => {
        answerAfterBody(request.raw, reply, routingRefusal(error.code));
      };
      const everyAnswer = answerHeaders.get(reply.server);
      if (everyAnswer) everyAnswer(request.raw, reply.raw, answer);
      else answer();
    },
  });
}

/** `target` as the router can route it: unchanged when it is a path, an absolute http(s) URL or `*`. */
function routableTarget(target: string): string {
  if (target.startsWith('/') || target === '*' || /^https?:\/\//i.test(target)) return target;
  return `/${target}`;
}

/** Per Fastify instance: what configureHttpApp does to every answer before its route runs. */
const answerHeaders = new WeakMap<
  FastifyInstance,
  (request: IncomingMessage, response: ServerResponse, next: () => void) => void
>();

/**
 * HTTP behaviour shared by every API (the app must import MetricsModule, and run on createHttpAdapter),
 * so a client's mistake is always a clear 4xx and never a 5xx:
 * JSON bodies only (415 otherwise), a body size limit (413), malformed JSON and prototype keys
 * rejected (400), strict validation with unknown fields rejected and a 400 body that names each bad
 * field, every error in one shape (ErrorShapeFilter). Tests call this too, so they run what production runs.
 * Every request gets its answer: an error answered before the body was read waits for the body (see
 * answerAfterBody), requests Node's parser refuses are answered without cutting the client off, and an
 * idle connection is never closed under a client that still counts on it (connections.ts).
 */
export function configureHttpApp(app: INestApplication): INestApplication {
  const { http } = app.get<AppConfig>(APP_CONFIG);
  const server = app.getHttpServer() as Server;
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  const metrics = app.get(Metrics);
  answerMalformedRequests(server);
  const advertiseIdleTime = keepIdleConnectionsLonger(server);
  const everyAnswer = (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    advertiseIdleTime(response);
    correlateRequests(request, response, next);
  };
  answerHeaders.set(fastify, everyAnswer);
  fastify.addHook('onRequest', (request, reply, done) => {
    const { raw } = request;
    replies.set(raw, reply);
    const route = request.routeOptions.url;
    if (route !== undefined) setRouteOf(raw, route);
    everyAnswer(raw, reply.raw, () => {
      metrics.timeRequest(raw, reply.raw, route);
      const body = urlRefusal(raw.url ?? '') ?? bodyKind(raw);
      if (typeof body === 'object') {
        answerAfterBody(raw, reply, body);
        return;
      }
      // Nothing body-parser would read (no body, or an empty one not JSON by its type): no fields, as on
      // Express, whatever the Content-Type says (Fastify would refuse a malformed one with a 415 of its own).
      if (body === 'none') delete raw.headers['content-type'];
      done();
    });
  });
  fastify.addHook('onSend', (request, reply, payload, done) => {
    keepConnectionAfterRefusedBody(request, reply, server);
    nameTextCharset(reply);
    answerUnchanged(request, reply, payload, done);
  });
  const parseJson = bodyParser.json({ limit: http.bodyLimitBytes, type: JSON_TYPES, reviver: refuseForbiddenKeys });
  fastify.removeAllContentTypeParsers();
  // Every body that gets here is JSON by its media type (the onRequest hook refused the others).
  fastify.addContentTypeParser('*', (request, _payload, done) => {
    const { raw } = request;
    parseJson(raw, raw as unknown as ServerResponse, (error?: unknown) => {
      if (error !== undefined) {
        const refusal = bodyRefusal(error);
        whenBodyRead(raw, (inTime) => {
          if (inTime) refusedWholeBodies.add(raw);
          else void replies.get(raw)?.header('Connection', 'close');
          done(asHttpException(refusal));
        });
        return;
      }
      // Undefined when the request has a Content-Type but no body at all: no fields, as without one.
      const body = (raw as { body?: unknown }).body;
      if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
        refusedWholeBodies.add(raw);
        done(asHttpException({ statusCode: 400, error: 'Bad Request', message: 'the body must be a JSON object' }));
        return;
      }
      done(null, body);
    });
  });
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) =>
        new BadRequestException({
          statusCode: 400,
          error: 'Bad Request',
          message: 'the request has invalid fields',
          fields: flattenValidationErrors(errors),
        }),
    }),
  );
  app.useGlobalFilters(new ErrorShapeFilter(app.getHttpAdapter()));
  app.enableShutdownHooks();
  return app;
}

/**
 * Every HTTP error answer in this API's shape, `{statusCode, error, message, …}`: Nest answers an
 * HttpException made from a bare message (its own, or Fastify's refusals, which Nest turns into
 * one) without `error`, which the OpenAPI documents require. Only `error` is added; the rest of an
 * answer, and exceptions that are not HttpExceptions (the command API's own filter), are left as they are.
 */
@Catch(HttpException)
class ErrorShapeFilter extends BaseExceptionFilter {
  override catch(exception: HttpException, host: ArgumentsHost): void {
    const status = exception.getStatus();
    const body = exception.getResponse();
    const shaped =
      typeof body === 'string'
        ? { statusCode: status, error: reasonPhrase(status), message: body }
        : 'error' in body
          ? undefined
          : { ...body, error: reasonPhrase(status) };
    super.catch(shaped ? new HttpException(shaped, status) : exception, host);
  }
}

function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

export function flattenValidationErrors(errors: readonly ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, errors: Object.values(error.constraints) }] : [];
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

/**
 * Conditional GETs, as Express answered them: a successful GET or HEAD carries an ETag (the one its
 * handler set, such as an order's version, or a weak one from the body), and one whose
 * `If-None-Match` names it is answered 304 without a body.
 */
function answerUnchanged(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (error: null, payload?: unknown) => void,
): void {
  const { method } = request;
  if ((method !== 'GET' && method !== 'HEAD') || reply.statusCode < 200 || reply.statusCode >= 300) {
    done(null, payload);
    return;
  }
  if (reply.getHeader('etag') === undefined && (typeof payload === 'string' || Buffer.isBuffer(payload))) {
    void reply.header('ETag', etag(payload, { weak: true }));
  }
  if (fresh(request.headers, { etag: reply.getHeader('etag') })) {
    // As Express: no body, so nothing that would describe one.
    void reply.code(304).removeHeader('content-type').removeHeader('content-length').removeHeader('transfer-encoding');
    done(null, null);
    return;
  }
  done(null, payload);
}

/** Media types of text this app serves without naming its charset (Swagger UI's page and scripts). */
const UNNAMED_TEXT = /^(text\/html|(application|text)\/javascript)$/i;

/** Names UTF-8 on a page or script sent without a charset, as Express's Swagger UI did. */
function nameTextCharset(reply: FastifyReply): void {
  const type = reply.getHeader('content-type');
  if (typeof type === 'string' && UNNAMED_TEXT.test(type)) void reply.header('Content-Type', `${type}; charset=utf-8`);
}

/**
 * Requests whose body was refused (400, 413, 415) after it had arrived in full: the connection can
 * serve the next request, as it did on Express. Fastify asks to close it after any body parser's
 * error, for bodies it could not have read to the end; this parser always reads them (whenBodyRead)
 * unless the client is too slow, and then the connection is closed.
 */
const refusedWholeBodies = new WeakSet<IncomingMessage>();

function keepConnectionAfterRefusedBody(request: FastifyRequest, reply: FastifyReply, server: Server): void {
  // A server closing keeps Fastify's `Connection: close`: the client is to go elsewhere; so does a
  // client that asked to close.
  if (!refusedWholeBodies.has(request.raw) || !server.listening || asksToClose(request.raw)) return;
  if (String(reply.getHeader('connection')).toLowerCase() === 'close') void reply.removeHeader('connection');
}

function asksToClose({ headers }: IncomingMessage): boolean {
  return (headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .some((option) => option.trim() === 'close');
}

interface Refusal {
  readonly statusCode: number;
  readonly error: string;
  readonly message: string;
}

/** Each request's reply, for what Fastify hands only the request (a body parser). */
const replies = new WeakMap<IncomingMessage, FastifyReply>();

/** The router's refusals, before any hook: a malformed percent-encoding, an over-long parameter. */
function routingRefusal(code: string): Refusal {
  switch (code) {
    case 'FST_ERR_BAD_URL':
      return { statusCode: 400, error: 'Bad Request', message: 'the URL is not correctly percent-encoded' };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { statusCode: 414, error: 'URI Too Long', message: 'the URL is longer than this API accepts' };
    default:
      return { statusCode: 400, error: 'Bad Request', message: 'the request cannot be routed' };
  }
}

function asHttpException(refusal: Refusal): HttpException {
  return new HttpException({ ...refusal }, refusal.statusCode);
}

/** Also refuses strings that Postgres cannot store: lone UTF-16 surrogates and NUL characters. */
function refuseForbiddenKeys(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError(`the key "${key}" is not allowed`);
  if (typeof value === 'string' && (!value.isWellFormed() || value.includes('\0'))) {
    throw new SyntaxError(`the value of "${key}" is not well-formed text`);
  }
  return value;
}

/** A NUL byte or malformed escape anywhere in the URL is a client error, before it can reach a query. */
function urlRefusal(url: string): Refusal | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(url);
  } catch {
    return { statusCode: 400, error: 'Bad Request', message: 'the URL is not correctly percent-encoded' };
  }
  if (decoded.includes('\0') || !decoded.isWellFormed()) {
    return { statusCode: 400, error: 'Bad Request', message: 'the URL contains characters that are not allowed' };
  }
  return undefined;
}

/**
 * What the JSON parser gets of a request: `'json'` when its Content-Type is JSON and its body, if it
 * has one, is declared in UTF-8 or in no charset (the only charset RFC 8259 allows between systems;
 * body-parser would decode UTF-16 and UTF-32 too, so a UTF-8 body declared UTF-16 was read as other
 * text); `'none'` when there is no body, or an empty one not declared JSON; a refusal (415) for any
 * other body, even an empty chunked one.
 */
function bodyKind(request: IncomingMessage): 'json' | 'none' | Refusal {
  const { headers } = request;
  const hasBody = Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined;
  if (typeIs(request, JSON_TYPES)) {
    // An empty one is still read (its coding is checked), as no fields, whatever its charset.
    if (!hasBody) return 'json';
    const charset = parseContentType(headers['content-type'] ?? '').parameters.charset?.toLowerCase();
    if (!charset || charset === 'utf-8') return 'json';
    return {
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: `unsupported charset "${charset.toUpperCase()}": JSON bodies must be UTF-8`,
    };
  }
  if (!hasBody) return 'none';
  return {
    statusCode: 415,
    error: 'Unsupported Media Type',
    message: 'the body must be JSON (Content-Type: application/json)',
  };
}

/** What the body parser's errors mean for the client. */
function bodyRefusal(error: unknown): Refusal {
  const { type, message } = error as { type?: string; message?: string };
  switch (type) {
    case 'entity.too.large':
      return { statusCode: 413, error: 'Payload Too Large', message: 'the body is larger than this API accepts' };
    case 'entity.parse.failed':
      return {
        statusCode: 400,
        error: 'Bad Request',
        message: `the body is not valid JSON: ${message ?? 'parse error'}`,
      };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return { statusCode: 415, error: 'Unsupported Media Type', message: message ?? 'unsupported body encoding' };
    default:
      return { statusCode: 400, error: 'Bad Request', message: message ?? 'the body was not received completely' };
  }
}

/** How long an error answered before its body was read waits for the rest of the body, at most. */
const DRAIN_MS = 5_000;

/**
 * Calls `then` once the request's body has arrived, reading and discarding what is left of it.
 * Answering first is allowed, but when the connection then closes (the client sent `Connection:
 * close`), Node closes a socket that still holds unread body: the client, still writing, gets a reset
 * instead of the answer. Bounded: a body still arriving after DRAIN_MS is answered anyway, and the
 * connection closed, so a client cannot make the server read without end.
 */
function whenBodyRead(request: IncomingMessage, then: (inTime: boolean) => void): void {
  if (request.complete) {
    then(true);
    return;
  }
  let called = false;
  const call = (inTime: boolean): void => {
    if (called) return;
    called = true;
    clearTimeout(bound);
    then(inTime);
  };
  const bound = setTimeout(() => {
    call(false);
  }, DRAIN_MS);
  finished(request, () => {
    call(true); // also on an aborted body: the answer then goes nowhere, harmlessly
  });
  request.resume();
}

/** Answers with this API's JSON error once the request's body has arrived (whenBodyRead). */
function answerAfterBody(request: IncomingMessage, reply: FastifyReply, refusal: Refusal): void {
  whenBodyRead(request, (inTime) => {
    if (!inTime) void reply.header('Connection', 'close');
    void reply.code(refusal.statusCode).send({ ...refusal });
  });
}
