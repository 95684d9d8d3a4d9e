import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { KafkaHealthCheck, MessagingModule } from '@app/messaging';
import { ConfigModule, DatabaseModule, HealthModule, postgresHealthCheck } from '@app/platform';
import { OrderViewQueries, readModelEntities } from '@app/read-models';

import { GetOrderController } from './get-order/get-order.http.controller.js';

@Module({
  imports: [
    ConfigModule,
    DatabaseModule.forRoot({ applicationName: 'query-api', entities: readModelEntities }),
    MessagingModule,
    HealthModule.withChecks({
      inject: [DataSource, KafkaHealthCheck],
      useFactory: (dataSource: DataSource, kafka: KafkaHealthCheck) => [postgresHealthCheck(dataSource), kafka],
    }),
  ],
  controllers: [GetOrderController],
  providers: [OrderViewQueries],
})
export class QueryApiModule {}
