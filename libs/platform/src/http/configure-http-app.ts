import type { Server } from 'node:http';
import { finished } from 'node:stream';

import { BadRequestException, ValidationPipe, type INestApplication, type ValidationError } from '@nestjs/common';
import express, { type NextFunction, type Request, type Response } from 'express';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { correlateRequests } from '../logging/request-context.js';
import { Metrics } from '../metrics/metrics.js';
import { answerMalformedRequests, keepIdleConnectionsLonger } from './connections.js';

/** One invalid field of a request, named by its path (`lines.0.quantity`). */
export interface FieldError {
  readonly field: string;
  readonly errors: readonly string[];
}

const JSON_TYPES = ['application/json', 'application/*+json'];
/** Keys that would reach an object's prototype when copied onto a class instance. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * HTTP behaviour shared by every API (the app must import MetricsModule), so a client's mistake is
 * always a clear 4xx and never a 5xx:
 * JSON bodies only (415 otherwise), a body size limit (413), malformed JSON and prototype keys
 * rejected (400), strict validation with unknown fields rejected and a 400 body that names each bad
 * field. Tests call this too, so they run what production runs.
 * Every request gets its answer: an error answered before the body was read waits for the body (see
 * sendError), requests Node's parser refuses are answered without cutting the client off, and an idle
 * connection is never closed under a client that still counts on it (connections.ts).
 */
export function configureHttpApp(app: INestApplication): INestApplication {
  const { http } = app.get<AppConfig>(APP_CONFIG);
  const server = app.getHttpServer() as Server;
  answerMalformedRequests(server);
  app.use(keepIdleConnectionsLonger(server));
  app.use(correlateRequests);
  app.use(refuseMalformedUrls);
  app.use(app.get(Metrics).timeRequests);
  app.use(express.json({ limit: http.bodyLimitBytes, type: JSON_TYPES, reviver: refuseForbiddenKeys }));
  app.use(requireJsonObjectBody);
  app.use(answerBodyErrors);
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
  app.enableShutdownHooks();
  return app;
}

export function flattenValidationErrors(errors: readonly ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, errors: Object.values(error.constraints) }] : [];
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
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
function refuseMalformedUrls(request: Request, response: Response, next: NextFunction): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(request.originalUrl);
  } catch {
    sendError(response, 400, 'Bad Request', 'the URL is not correctly percent-encoded');
    return;
  }
  if (decoded.includes('\0') || !decoded.isWellFormed()) {
    sendError(response, 400, 'Bad Request', 'the URL contains characters that are not allowed');
    return;
  }
  next();
}

function requireJsonObjectBody(request: Request, response: Response, next: NextFunction): void {
  const hasBody =
    Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (hasBody && !request.is(JSON_TYPES)) {
    sendError(response, 415, 'Unsupported Media Type', 'the body must be JSON (Content-Type: application/json)');
    return;
  }
  const body: unknown = request.body;
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    sendError(response, 400, 'Bad Request', 'the body must be a JSON object');
    return;
  }
  next();
}

/** Errors of the body parser: they happen before routing, so Nest's exception filters never see them. */
function answerBodyErrors(error: unknown, _request: Request, response: Response, next: NextFunction): void {
  const { type, message } = error as { type?: string; message?: string };
  switch (type) {
    case 'entity.too.large':
      sendError(response, 413, 'Payload Too Large', 'the body is larger than this API accepts');
      return;
    case 'entity.parse.failed':
      sendError(response, 400, 'Bad Request', `the body is not valid JSON: ${message ?? 'parse error'}`);
      return;
    case 'charset.unsupported':
    case 'encoding.unsupported':
      sendError(response, 415, 'Unsupported Media Type', message ?? 'unsupported body encoding');
      return;
    case 'request.aborted':
    case 'request.size.invalid':
      sendError(response, 400, 'Bad Request', message ?? 'the body was not received completely');
      return;
    default:
      next(error);
  }
}

/** How long an error answered before its body was read waits for the rest of the body, at most. */
const DRAIN_MS = 5_000;

/**
 * Answers once the request's body has arrived, reading and discarding what is left of it. Answering
 * first is allowed, but when the connection then closes (the client sent `Connection: close`), Node
 * closes a socket that still holds unread body: the client, still writing, gets a reset instead of
 * the answer. Bounded: a body still arriving after DRAIN_MS is answered anyway, and the connection
 * closed, so a client cannot make the server read without end.
 */
function sendError(response: Response, statusCode: number, error: string, message: string): void {
  const request = response.req;
  if (request.complete) {
    response.status(statusCode).json({ statusCode, error, message });
    return;
  }
  let answered = false;
  const answer = (): void => {
    if (answered) return;
    answered = true;
    clearTimeout(bound);
    response.status(statusCode).json({ statusCode, error, message });
  };
  const bound = setTimeout(() => {
    response.setHeader('Connection', 'close');
    answer();
  }, DRAIN_MS);
  finished(request, answer); // also on an aborted body: the answer then goes nowhere, harmlessly
  request.resume();
}
