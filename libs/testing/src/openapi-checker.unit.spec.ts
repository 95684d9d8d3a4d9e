import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { buildCommandApiDocument, CommandApiModule } from '@app/command-api';
import { createHttpAdapter, loadConfig } from '@app/platform';
import { buildQueryApiDocument, QueryApiModule } from '@app/query-api';

import { OpenApiChecker, type Exchange } from './openapi-checker.js';

const ORDER_ID = '0b7d1d3e-5f0c-4c39-9a51-8e7c0a6f2b11';
const json = (body: unknown) => ({ contentType: 'application/json; charset=utf-8', text: JSON.stringify(body) });

/**
 * The checker the OpenAPI session test (test/e2e/openapi-session.e2e.spec.ts) holds every answer to,
 * on the documents the APIs serve (built here in Nest's preview mode: no database, no broker): it
 * passes the answers the APIs give, and fails each way an answer can break its document.
 */
describe('OpenApiChecker on the APIs’ own documents', () => {
  const apps: INestApplication[] = [];
  let command: OpenApiChecker;
  let query: OpenApiChecker;

  before(async () => {
    const { http } = loadConfig({});
    const [commandApp, queryApp] = await Promise.all([
      NestFactory.create(CommandApiModule, createHttpAdapter(), { preview: true, logger: false }),
      NestFactory.create(QueryApiModule, createHttpAdapter(), { preview: true, logger: false }),
    ]);
    apps.push(commandApp, queryApp);
    command = await OpenApiChecker.of(buildCommandApiDocument(commandApp, http));
    query = await OpenApiChecker.of(buildQueryApiDocument(queryApp, http));
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  const placed = (answer: Partial<Exchange>): Exchange => ({
    method: 'POST',
    url: '/orders',
    status: 201,
    ...json({ orderId: ORDER_ID, version: 1, status: 'PLACED' }),
    ...answer,
  });
  const invalid = (fields: unknown): Exchange =>
    placed({ status: 400, ...json({ statusCode: 400, error: 'Bad Request', message: 'invalid', fields }) });

  it('passes an answer that holds to its operation', () => {
    assert.deepEqual(command.problems(placed({})), []);
    assert.deepEqual(
      command.problems(invalid([{ field: 'lines.0.quantity', errors: ['quantity must not be less than 1'] }])),
      [],
    );
  });

  it('fails the 400 body the document used to promise: `fields` as strings', () => {
    const problems = command.problems(invalid(['lines.0.quantity']));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] ?? '', /POST \/orders → 400: \/fields\/0 must be object/);
  });

  it('fails a missing required field, a wrong type, a value outside the enum, a malformed uuid', () => {
    for (const body of [
      { version: 1, status: 'PLACED' },
      { orderId: ORDER_ID, version: '1', status: 'PLACED' },
      { orderId: ORDER_ID, version: 1, status: 'TELEPORTED' },
      { orderId: 'not-a-uuid', version: 1, status: 'PLACED' },
    ])
      assert.equal(command.problems(placed(json(body))).length, 1, JSON.stringify(body));
  });

  it('fails a status the operation does not document', () => {
    assert.match(command.problems(placed({ status: 418 })).join(), /placeOrder documents no 418/);
    // 404 exists on the order's other commands, not on placing one.
    assert.match(command.problems(placed({ status: 404 })).join(), /placeOrder documents no 404/);
  });

  it('fails a body of another media type, a body that is not JSON, and a request no operation serves', () => {
    assert.match(command.problems(placed({ contentType: 'text/html' })).join(), /Content-Type text\/html/);
    assert.match(command.problems(placed({ contentType: undefined })).join(), /Content-Type \(none\)/);
    assert.match(command.problems(placed({ text: '{"orderId":' })).join(), /not JSON/);
    assert.match(command.problems(placed({ url: '/orders/x/teleport' })).join(), /no operation/);
  });

  it('takes 304 without a body, and fails one with a body', () => {
    const notModified: Exchange = {
      method: 'GET',
      url: `/orders/${ORDER_ID}`,
      status: 304,
      contentType: undefined,
      text: '',
    };
    assert.deepEqual(query.problems(notModified), []);
    assert.match(query.problems({ ...notModified, text: '{}' }).join(), /documents no body for 304/);
  });

  it('holds a projection never rebuilt (lastRebuild null), and fails a lastRebuild that is neither a rebuild nor null', () => {
    const projection = (lastRebuild: unknown) => ({
      name: 'order-view',
      version: 1,
      generation: 1,
      generationVersion: 1,
      schema: 'order_view_g1',
      builtAt: '2026-01-01T00:00:00.000Z',
      state: 'live',
      lag: 0,
      parkedEvents: 0,
      offsets: [{ partition: 0, nextOffset: 3, logEnd: 3, lag: 0 }],
      lastRebuild,
    });
    const listed = (lastRebuild: unknown): Exchange => ({
      method: 'GET',
      url: '/admin/projections',
      status: 200,
      ...json({ items: [projection(lastRebuild)] }),
    });
    assert.deepEqual(query.problems(listed(null)), []);
    assert.notDeepEqual(query.problems(listed({})), []);
    assert.notDeepEqual(query.problems(listed('none')), []);
  });
});
