import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';

import { Logger } from '@nestjs/common';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

import { inSpan, startTracing, stopTracing } from '../tracing/tracing.js';
import { createLogger, type LogStreams } from './logger.js';
import { correlateRequests } from './request-context.js';

type LogLine = Record<string, unknown>;

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
  type Middleware = Parameters<typeof correlateRequests>;
  const request = { headers: { 'x-correlation-id': correlationId } } as unknown as Middleware[0];
  const response = { setHeader: () => response } as unknown as Middleware[1];
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

    const placed: LogLine | undefined = streams.out.lines[0];

    assert.ok(placed);
    const outside: LogLine | undefined = streams.out.lines[1];
    assert.ok(outside);
    assert.equal(streams.out.lines.length, 2);
    assert.equal(placed.level, 'log');
    assert.equal(placed.app, 'command-api');
    assert.equal(placed.context, 'Orders');
    assert.equal(placed.message, 'placed');
    assert.equal(placed.correlationId, 'corr-1');
    assert.ok(!Number.isNaN(Date.parse(String(placed.time))), 'an ISO time');
    assert.equal(outside.level, 'warn');
    assert.equal(outside.correlationId, undefined);
    assert.equal(outside.trace_id, undefined, 'no trace ids while tracing is off');

    assert.equal(streams.err.lines.length, 1);
    const broke: LogLine | undefined = streams.err.lines[0];
    assert.ok(broke);
    assert.equal(broke.level, 'error');
    assert.equal(broke.context, 'Relay');
    assert.equal(broke.correlationId, 'corr-1');
    assert.match(String((broke.err as { stack?: string } | undefined)?.stack), /at somewhere/);
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
    assert.equal(streams.out.lines.length, 2);
    const inside: LogLine | undefined = streams.out.lines[0];
    assert.ok(inside);
    const afterwards: LogLine | undefined = streams.out.lines[1];
    assert.ok(afterwards);
    assert.equal(inside.message, 'inside a span');
    assert.equal(inside.trace_id, span.spanContext().traceId);
    assert.equal(inside.span_id, span.spanContext().spanId);
    assert.equal(afterwards.message, 'after it');
    assert.equal(afterwards.trace_id, undefined);
  });
});
