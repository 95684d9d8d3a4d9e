import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';

import { Logger } from '@nestjs/common';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Request, Response } from 'express';

import { inSpan, startTracing, stopTracing } from '../tracing/tracing.js';
import { createLogger, type LogStreams } from './logger.js';
import { correlateRequests } from './request-context.js';

/** Streams that keep each line, parsed. */
function capture(): LogStreams & {
  out: { lines: Record<string, unknown>[] };
  err: { lines: Record<string, unknown>[] };
} {
  const stream = (): { lines: Record<string, unknown>[]; write(line: string): void } => {
    const lines: Record<string, unknown>[] = [];
    return {
      lines,
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    };
  };
  return { out: stream(), err: stream() };
}

/** Runs `work` as the platform's middleware runs a request carrying this X-Correlation-Id. */
function inRequest(correlationId: string, work: () => void): void {
  const request = { headers: { 'x-correlation-id': correlationId } } as unknown as Request;
  const response = { setHeader: () => response } as unknown as Response;
  correlateRequests(request, response, work);
}

describe('JSON logs (Pino through nestjs-pino)', () => {
  // nestjs-pino keeps one root logger per process: the first one made is the one every test writes to.
  const streams = capture();
  const logger = createLogger('command-api', 'json', streams);

  beforeEach(() => {
    streams.out.lines.length = 0;
    streams.err.lines.length = 0;
  });

  after(async () => {
    await stopTracing();
  });

  it('writes one JSON object per line with the fields log pipelines read, errors to stderr', () => {
    inRequest('corr-1', () => {
      logger.log('placed', 'Orders');
      logger.error('it broke', 'Error: it broke\n    at somewhere (file.js:1:1)', 'Relay');
    });
    logger.warn('no request here', 'Relay');

    const [placed, outside] = streams.out.lines;
    assert.equal(streams.out.lines.length, 2);
    assert.equal(placed?.level, 'log');
    assert.equal(placed?.app, 'command-api');
    assert.equal(placed?.context, 'Orders');
    assert.equal(placed?.message, 'placed');
    assert.equal(placed?.correlationId, 'corr-1');
    assert.ok(!Number.isNaN(Date.parse(String(placed?.time))), 'an ISO time');
    assert.equal(outside?.level, 'warn');
    assert.equal(outside?.correlationId, undefined);
    assert.equal(outside?.trace_id, undefined, 'no trace ids while tracing is off');

    assert.equal(streams.err.lines.length, 1);
    const [broke] = streams.err.lines;
    assert.equal(broke?.level, 'error');
    assert.equal(broke?.context, 'Relay');
    assert.equal(broke?.correlationId, 'corr-1');
    assert.match(String((broke?.err as { stack?: string } | undefined)?.stack), /at somewhere/);
  });

  it("carries the trace and span ids of the span being recorded, also through Nest's static Logger", async () => {
    Logger.overrideLogger(logger);
    startTracing('logs-test', { exporter: new InMemorySpanExporter() });
    const span = await inSpan('work', {}, (active) => {
      new Logger('Work').log('inside a span');
      return Promise.resolve(active);
    });
    new Logger('Work').log('after it');
    Logger.overrideLogger(true);

    assert.ok(span);
    const [inside, afterwards] = streams.out.lines;
    assert.equal(inside?.message, 'inside a span');
    assert.equal(inside?.trace_id, span.spanContext().traceId);
    assert.equal(inside?.span_id, span.spanContext().spanId);
    assert.equal(afterwards?.message, 'after it');
    assert.equal(afterwards?.trace_id, undefined);
  });
});
