import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { ORDER_STATUSES } from '@app/orders-domain';
import { APP_CONFIG, createHttpAdapter, loadConfig } from '@app/platform';
import { CustomerSummaryQueries, OrderViewQueries, SalesQueries } from '@app/read-models';

import { GetCustomerController } from './get-customer/get-customer.http.controller.js';
import { GetOrderController } from './get-order/get-order.http.controller.js';
import { ListOrdersController } from './list-orders/list-orders.http.controller.js';
import { buildOpenApiDocument } from './openapi.js';
import { SalesStatsController } from './sales-stats/sales-stats.http.controller.js';

interface Schema {
  readonly oneOf?: readonly { type?: string; pattern?: string; maximum?: number }[];
  readonly additionalProperties?: Schema;
  readonly properties?: Record<string, Schema>;
  readonly enum?: readonly unknown[];
}

/**
 * The document is generated from the controllers alone, so the read models behind them are never
 * called: placeholders stand in for them and no database is needed.
 */
describe('query API OpenAPI document', () => {
  let app: INestApplication;
  let schemas: Record<string, Schema>;

  before(async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [GetOrderController, ListOrdersController, GetCustomerController, SalesStatsController],
      providers: [OrderViewQueries, CustomerSummaryQueries, SalesQueries, APP_CONFIG].map((provide) => ({
        provide,
        useValue: {},
      })),
    }).compile();
    app = moduleRef.createNestApplication(createHttpAdapter(), { logger: false });
    schemas = (buildOpenApiDocument(app, loadConfig({}).http).components?.schemas ?? {}) as Record<string, Schema>;
  });

  after(async () => {
    await app.close();
  });

  const isExactAmount = (schema: Schema | undefined, where: string, { signed = false } = {}): void => {
    assert.deepEqual(
      schema?.oneOf?.map(({ type, pattern, maximum }) => ({ type, pattern, maximum })),
      [
        { type: 'integer', pattern: undefined, maximum: Number.MAX_SAFE_INTEGER },
        { type: 'string', pattern: signed ? '^-?[0-9]+$' : '^[0-9]+$', maximum: undefined },
      ],
      `${where}: an integer up to 2^53 - 1, or a string of digits${signed ? ', either signed' : ''}`,
    );
  };

  it('says every amount is an integer while safe, otherwise a string of digits', () => {
    isExactAmount(schemas.OrderResponse?.properties?.totalMinor, 'order totalMinor');
    isExactAmount(
      schemas.CustomerResponse?.properties?.totalsByCurrency?.additionalProperties,
      'customer totalsByCurrency',
    );
    isExactAmount(
      schemas.SalesBucketResponse?.properties?.revenueByCurrency?.additionalProperties,
      'sales revenueByCurrency (less returns booked in the bucket, so possibly negative)',
      { signed: true },
    );
  });

  it("lists the domain's order statuses, every one of them", () => {
    assert.deepEqual(schemas.OrderResponse?.properties?.status?.enum, ORDER_STATUSES);
  });
});
