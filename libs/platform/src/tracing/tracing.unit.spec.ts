import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

import {
  currentTraceparent,
  endSpans,
  inSpan,
  startChildSpan,
  startTracing,
  stopTracing,
  traceparentOf,
  tracingEnabled,
} from './tracing.js';

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing helpers', () => {
  after(async () => {
    await stopTracing();
  });

  it('do nothing while tracing is off: no span, no traceparent, the work still runs', async () => {
    assert.equal(tracingEnabled(), false);
    assert.equal(startChildSpan('publish', {}, PARENT), undefined);
    assert.equal(await inSpan('append', {}, (span) => Promise.resolve(span === undefined ? 'ran' : 'span')), 'ran');
    assert.equal(currentTraceparent(), undefined);
  });

  it('start each hop as the child of the traceparent it was handed, and hand on their own', async () => {
    const exported = new InMemorySpanExporter();
    startTracing('tracing-unit', { exporter: exported });
    const child = startChildSpan('publish', {}, PARENT);
    assert.ok(child);
    const handed = traceparentOf(child);
    endSpans([child, undefined]);
    assert.match(handed, /^00-0af7651916cd43dd8448eb211c80319c-[\da-f]{16}-01$/);
    assert.notEqual(handed, PARENT, 'a child span id');
    const [span] = exported.getFinishedSpans();
    assert.equal(span?.parentSpanContext?.spanId, 'b7ad6b7169203331');

    const inner = await inSpan('append', {}, () => Promise.resolve(currentTraceparent()));
    assert.match(inner ?? '', /^00-[\da-f]{32}-[\da-f]{16}-01$/);
  });

  it('refuse a malformed or all-zero traceparent instead of continuing it', () => {
    for (const bad of [
      'not a traceparent',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01',
      undefined,
    ]) {
      assert.equal(startChildSpan('publish', {}, bad), undefined, String(bad));
    }
  });

  it('mark a span failed with the error that ended it', async () => {
    const exported = new InMemorySpanExporter();
    await stopTracing();
    startTracing('tracing-unit', { exporter: exported });
    await assert.rejects(
      inSpan('append', {}, () => Promise.reject(new Error('conflict'))),
      /conflict/,
    );
    const failed = startChildSpan('apply', {}, PARENT);
    endSpans([failed], new Error('batch failed'));
    const [append, apply] = exported.getFinishedSpans();
    assert.equal(append?.status.code, SpanStatusCode.ERROR);
    assert.equal(append.status.message, 'conflict');
    assert.equal(apply?.status.message, 'batch failed');
  });
});
