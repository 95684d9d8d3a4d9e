import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { KafkaConnection, KafkaHealthCheck, MessagingModule, TopicOffsets } from '@app/messaging';
import {
  AdminTokenGuard,
  ConfigModule,
  DatabaseModule,
  HealthModule,
  KEY_LOOKUP_PLANS,
  MetricsModule,
  postgresHealthCheck,
  TracingModule,
} from '@app/platform';
import { ParkedEvents, projections } from '@app/projections';
import {
  CustomerSummaryQueries,
  OrderVersionWaits,
  OrderViewQueries,
  readModelEntities,
  SalesQueries,
} from '@app/read-models';

import { PROJECTIONS } from './admin/admin.tokens.js';
import { OpsPageController } from './admin/ops-page.http.controller.js';
import { OutboxController } from './admin/outbox.http.controller.js';
import { ParkedEventsController } from './admin/parked-events.http.controller.js';
import { ProjectionsController } from './admin/projections.http.controller.js';
import { GetCustomerController } from './get-customer/get-customer.http.controller.js';
import { GetOrderController } from './get-order/get-order.http.controller.js';
import { ListOrdersController } from './list-orders/list-orders.http.controller.js';
import { SalesStatsController } from './sales-stats/sales-stats.http.controller.js';
import { TopSkusController } from './top-skus/top-skus.http.controller.js';
import { TopSkusQueries } from './top-skus/top-skus.queries.js';

@Module({
  imports: [
    ConfigModule,
    TracingModule,
    MetricsModule.forApp('query-api'),
    DatabaseModule.forRoot({
      side: 'read',
      applicationName: 'query-api',
      entities: readModelEntities,
      // Its pipelined reads are an order's view by key (`GET /orders/:id`, the minVersion waits).
      pipelinedPlans: KEY_LOOKUP_PLANS,
    }),
    MessagingModule,
    HealthModule.withChecks({
      inject: [DataSource, KafkaHealthCheck],
      useFactory: (dataSource: DataSource, kafka: KafkaHealthCheck) => [postgresHealthCheck(dataSource), kafka],
    }),
  ],
  controllers: [
    GetOrderController,
    ListOrdersController,
    GetCustomerController,
    SalesStatsController,
    TopSkusController,
    ParkedEventsController,
    ProjectionsController,
    OutboxController,
    OpsPageController,
  ],
  providers: [
    OrderViewQueries,
    OrderVersionWaits,
    CustomerSummaryQueries,
    SalesQueries,
    TopSkusQueries,
    AdminTokenGuard,
    { provide: PROJECTIONS, useValue: projections },
    {
      provide: TopicOffsets,
      inject: [KafkaConnection],
      useFactory: (kafka: KafkaConnection) => new TopicOffsets(kafka),
    },
    {
      provide: ParkedEvents,
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => new ParkedEvents(dataSource, projections),
    },
  ],
})
export class QueryApiModule {}
