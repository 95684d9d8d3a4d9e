import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

import { startTracing, stopTracing } from '@app/platform/tracing';
import type { RunningSystem, TestEnvironment } from '@app/testing';

// As an app's main.ts does: tracing starts before the apps' modules load, so that the HTTP and pg
// instrumentations patch those modules as they are first loaded. Hence the imports below are dynamic.
const exported = new InMemorySpanExporter();
startTracing('orders-e2e', { exporter: exported });
const { projections } = await import('@app/projections');
const { AppProcess, createTestEnvironment, eventually, placeOrderBody, readTopic, startSystem } =
  await import('@app/testing');
const { default: request } = await import('supertest');

/**
 * README, "Tracing": one command's trace runs from its HTTP request through the event store's
 * transaction (and its SQL), the relay's publish and every projection's apply, each hop the child of
 * the one before it, linked through the outbox row and the Kafka record's `traceparent` header.
 */
describe('traces: one trace from the HTTP command to every read model', () => {
  let env: TestEnvironment | undefined;
  let system: RunningSystem | undefined;

  before(async () => {
    env = await createTestEnvironment('traces', { relay: 'in-process' });
    system = await startSystem(env.config);
  });

  after(async () => {
    await system?.close();
    await env?.dispose();
    await stopTracing();
  });

  function started(): RunningSystem & { env: TestEnvironment } {
    assert.ok(env && system, 'the test environment did not start');
    return { ...system, env };
  }

  it("continues the client's trace: HTTP span → append → publish → apply in each projection", async () => {
    const { env, commandApi, queryApi } = started();
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const placed = await request(commandApi.getHttpServer())
      .post('/orders')
      .set('traceparent', `00-${traceId}-${clientSpanId}-01`)
      .send(placeOrderBody({ customerId: 'customer-traced' }))
      .expect(201);
    const { orderId } = placed.body as { orderId: string };
    await request(queryApi.getHttpServer()).get(`/orders/${orderId}?minVersion=1`).expect(200);

    // Every projection commits the record and then ends its span: wait for the last of them.
    const names = projections.map((projection) => `apply ${projection.name}`);
    const trace = await eventually(() => {
      const spans = exported.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
      for (const name of names)
        assert.ok(
          spans.some((span) => span.name === name),
          `no ${name} span yet`,
        );
      return spans;
    });

    const http = only(trace, (span) => span.name === 'POST /orders');
    assert.equal(http.kind, SpanKind.SERVER);
    assert.equal(http.parentSpanContext?.spanId, clientSpanId, "the HTTP span is the client's child");
    assert.equal(http.attributes['http.route'], '/orders');

    const append = only(trace, (span) => span.name === 'event-store transaction');
    assert.equal(parentOf(append), http.spanContext().spanId);
    assert.equal(append.attributes['event_store.stream_id'], orderId);
    // Its SQL, from the pg instrumentation: the append among the statements.
    const sql = trace.filter(
      (span) => parentOf(span) === append.spanContext().spanId && span.attributes['db.system.name'] === 'postgresql',
    );
    assert.ok(
      sql.some((span) => String(span.attributes['db.query.text']).includes('INSERT INTO events')),
      sql.map((span) => span.name).join(', '),
    );

    // The outbox row hands the transaction's span to the relay.
    const stored = await env.db.query<{ traceparent: string }>(
      `SELECT metadata->>'traceparent' AS traceparent FROM events WHERE order_id = $1`,
      [orderId],
    );
    assert.deepEqual(stored.rows, [{ traceparent: `00-${traceId}-${append.spanContext().spanId}-01` }]);

    const publish = only(trace, (span) => span.name === `publish ${env.config.kafka.ordersTopic}`);
    assert.equal(publish.kind, SpanKind.PRODUCER);
    assert.equal(parentOf(publish), append.spanContext().spanId);
    assert.equal(publish.attributes['messaging.kafka.message.key'], orderId);

    // The record's header hands the publish span to the projections.
    const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) =>
      read.some((record) => record.key === orderId),
    );
    const record = records.find((candidate) => candidate.key === orderId);
    assert.ok(record);
    assert.equal(record.headers.traceparent, `00-${traceId}-${publish.spanContext().spanId}-01`);

    for (const name of names) {
      const apply = only(trace, (span) => span.name === name);
      assert.equal(apply.kind, SpanKind.CONSUMER, name);
      assert.equal(parentOf(apply), publish.spanContext().spanId, `${name} is the publish span's child`);
      assert.equal(apply.attributes['messaging.kafka.offset'], Number(record.offset));
    }
    // And the read model row the trace ends in is there.
    const view = await request(queryApi.getHttpServer()).get(`/orders/${orderId}`).expect(200);
    assert.equal((view.body as { customerId: string }).customerId, 'customer-traced');
  });

  it('starts a trace for a command that came without one, and carries it to the record', async () => {
    const { env, commandApi } = started();
    const placed = await request(commandApi.getHttpServer())
      .post('/orders')
      .send(placeOrderBody({ customerId: 'customer-untraced' }))
      .expect(201);
    const { orderId } = placed.body as { orderId: string };
    const records = await readTopic(env.kafka, env.config.kafka.ordersTopic, (read) =>
      read.some((record) => record.key === orderId),
    );
    const traceparent = records.find((record) => record.key === orderId)?.headers.traceparent ?? '';
    const [, traceId, spanId] = traceparent.split('-');
    // The record is on the topic once the relay's span has ended; the HTTP span ends with the answer.
    const http = await eventually(() =>
      only(
        exported.getFinishedSpans(),
        (span) => span.spanContext().traceId === traceId && span.name === 'POST /orders',
      ),
    );
    assert.equal(http.parentSpanContext, undefined, 'a root span');
    const publish = only(exported.getFinishedSpans(), (span) => span.spanContext().spanId === spanId);
    assert.equal(publish.spanContext().traceId, traceId);
  });
});

describe('traces: an app started as in production exports over OTLP and logs trace ids', () => {
  let env: TestEnvironment | undefined;
  let collector: Server | undefined;
  let app: InstanceType<typeof AppProcess> | undefined;
  /** The bodies of the OTLP export requests the collector got. */
  const exports: { path: string; type: string | undefined; body: Buffer }[] = [];

  before(async () => {
    env = await createTestEnvironment('traces_otlp', { relay: 'in-process' });
    // An OTLP/HTTP receiver of our own: it keeps each request and answers as a collector does.
    collector = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        exports.push({ path: request.url ?? '', type: request.headers['content-type'], body: Buffer.concat(chunks) });
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => collector!.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as AddressInfo;
    app = new AppProcess('query-api', env.config, undefined, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${String(port)}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      ADMIN_TOKEN: 'traces-admin-token-0123456789',
      LOG_FORMAT: 'json',
    });
    await app.ready;
  });

  after(async () => {
    await app?.stop();
    await new Promise((resolve) => collector?.close(resolve));
    await env?.dispose();
  });

  it("sends the request's span, in the client's trace, and writes its trace id on the log line of the request", async () => {
    assert.ok(app);
    const traceId = randomBytes(16).toString('hex');
    const response = await fetch(`${app.url}/admin/projections`, {
      headers: {
        authorization: 'Bearer traces-admin-token-0123456789',
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        'x-correlation-id': 'traced-admin-call',
      },
    });
    assert.equal(response.status, 200);

    // OTLP over HTTP with protobuf: the trace id travels as its 16 raw bytes, the span's name as text.
    // The request's SQL spans end before its HTTP span, so they may go out in an earlier export.
    const sent = await eventually(() => {
      const found = exports.filter((request) => request.body.includes(Buffer.from(traceId, 'hex')));
      assert.ok(
        found.some((request) => request.body.includes('GET /admin/projections')),
        `no export of the request's span (trace ${traceId}) yet; ${String(exports.length)} requests so far`,
      );
      return found;
    });
    for (const request of sent) {
      assert.equal(request.path, '/v1/traces');
      assert.equal(request.type, 'application/x-protobuf');
    }

    const line = app.log
      .filter((candidate) => candidate.startsWith('{'))
      .map((candidate) => JSON.parse(candidate) as Record<string, unknown>)
      .find((logged) => logged.correlationId === 'traced-admin-call');
    assert.ok(line, 'the admin call is logged');
    assert.equal(line.trace_id, traceId);
    assert.match(String(line.span_id), /^[\da-f]{16}$/);
    assert.equal(line.context, 'Admin');
    assert.equal(line.level, 'log');
  });
});

function only(spans: readonly ReadableSpan[], match: (span: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(match);
  assert.equal(
    found.length,
    1,
    `one span expected, found ${String(found.length)}: ${found.map((s) => s.name).join(', ')}`,
  );
  return found[0]!;
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
