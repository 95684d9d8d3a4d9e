import type { IncomingMessage } from 'node:http';

import {
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

import { loadConfigOrExit } from '../config/app-config.js';
import { routeOf } from '../http/http-route.js';

export { SpanKind, type Span } from '@opentelemetry/api';

/**
 * Traces, with OpenTelemetry. A command's trace runs from its HTTP request through the event
 * store's transaction, the outbox relay's publish and each projection's apply, in as many processes,
 * linked by the W3C `traceparent` that the outbox row (the event's metadata) and the Kafka record's
 * header carry: each hop starts a child of the traceparent it was handed and hands on its own.
 *
 * Off unless `startTracing` is given somewhere to send spans: then nothing is recorded, every helper
 * here returns at once, and a traceparent travels on exactly as the client sent it.
 */

const TRACER = 'event-sourced-orders';
const VALID_TRACEPARENT = /^00-(?!0{32})[\da-f]{32}-(?!0{16})[\da-f]{16}-[\da-f]{2}$/;
/** Scraped every few seconds, and never part of a command's path: no spans. */
const UNTRACED_PATHS = /^\/(health|metrics)(\/|\?|$)/;

let provider: NodeTracerProvider | undefined;
let uninstrument: (() => void) | undefined;

export interface TracingOptions {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter reads it and the other `OTEL_EXPORTER_OTLP_*` variables itself). */
  readonly otlpEndpoint?: string | undefined;
  /** Spans go here instead, one at a time as they end (tests: the SDK's InMemorySpanExporter). */
  readonly exporter?: SpanExporter;
}

/**
 * Starts recording spans when there is somewhere to send them; otherwise does nothing. Call it
 * before the modules it instruments are loaded (`http`, `pg`): an app's `main.ts` calls it and then
 * imports the app. Instrumented: incoming HTTP requests (a server span each, health and metrics
 * aside) and `pg` queries made within a trace. Kafka is traced by our own spans, not kafkajs's
 * instrumentation, which would replace the relay's per-event traceparent with one of its own.
 */
export function startTracing(service: string, options: TracingOptions): void {
  if (provider || (options.otlpEndpoint === undefined && options.exporter === undefined)) return;
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter());
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [processor],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  uninstrument = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        disableOutgoingRequestInstrumentation: true, // the apps call no HTTP service; the exporter's own calls stay out
        ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
        // Named by the route it matched (`POST /orders/:id/confirm`), as the request metrics are.
        applyCustomAttributesOnSpan: (span, request) => {
          // An incoming request (what tracing sees of it is Node's, so the route is looked up by it).
          if (!('method' in request)) return;
          const route = routeOf(request as IncomingMessage);
          if (route === undefined) return;
          span.setAttribute('http.route', route);
          span.updateName(`${String(request.method)} ${route}`);
        },
      }),
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
}

/**
 * For an app's `main.ts`, before it imports the app (`@app/platform/tracing` loads nothing that is
 * instrumented): tracing as configured. A bad configuration stops the process here, as it would later.
 */
export function startConfiguredTracing(service: string): void {
  startTracing(service, loadConfigOrExit().tracing);
}

/** Sends what is buffered (an app's shutdown calls it). */
export async function flushTraces(): Promise<void> {
  await provider?.forceFlush();
}

/** Flushes, stops recording and removes the instrumentations: tracing is off again. */
export async function stopTracing(): Promise<void> {
  const stopping = provider;
  if (!stopping) return;
  provider = undefined;
  uninstrument?.();
  uninstrument = undefined;
  await stopping.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
}

export function tracingEnabled(): boolean {
  return provider !== undefined;
}

function tracer(): ReturnType<typeof trace.getTracer> {
  return trace.getTracer(TRACER);
}

/** The context a well-formed `traceparent` names, to start its children in; undefined when off or malformed. */
export function contextOf(traceparent: string | undefined): Context | undefined {
  if (!provider || traceparent === undefined || !VALID_TRACEPARENT.test(traceparent)) return undefined;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The `traceparent` that makes the receiver's spans children of this one. */
export function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/** The `traceparent` of the span being recorded now, to hand on to the next hop; undefined when none is. */
export function currentTraceparent(): string | undefined {
  if (!provider) return undefined;
  const span = trace.getActiveSpan();
  return span?.isRecording() ? traceparentOf(span) : undefined;
}

/** Describes the span being recorded now (what a transaction appended, say); nothing when none is. */
export function describeCurrentSpan(attributes: Attributes): void {
  if (provider) trace.getActiveSpan()?.setAttributes(attributes);
}

/** The trace and span ids of the span being recorded now, for log lines; undefined when none is. */
export function currentTraceIds(): { trace_id: string; span_id: string } | undefined {
  if (!provider) return undefined;
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/**
 * Runs `work` in a new span, active for everything it awaits (its SQL, its log lines), and ended
 * when it settles; an error is recorded on it. Without tracing, just runs `work`.
 */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!provider) return work(undefined);
  return tracer().startActiveSpan(name, options, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Starts a span that is not made active and is ended by the caller: one per event of a batch, each
 * the child of that event's own traceparent. Undefined when tracing is off or there is no parent:
 * an event that came without a trace starts none.
 */
export function startChildSpan(name: string, options: SpanOptions, parent: string | undefined): Span | undefined {
  const parentContext = contextOf(parent);
  return parentContext && tracer().startSpan(name, options, parentContext);
}

/** Ends spans started for a batch, marking them failed when the batch was. */
export function endSpans(spans: readonly (Span | undefined)[], error?: unknown): void {
  for (const span of spans) {
    if (!span) continue;
    if (error !== undefined) failed(span, error);
    span.end();
  }
}

function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
