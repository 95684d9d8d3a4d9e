import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { DataSource } from 'typeorm';

import { EventStoreModule } from '@app/event-store';
import { KafkaHealthCheck, MessagingModule } from '@app/messaging';
import {
  Clock,
  ConfigModule,
  DatabaseModule,
  HealthModule,
  IdGenerator,
  postgresHealthCheck,
  RandomIdGenerator,
  SystemClock,
} from '@app/platform';

import { PlaceOrderController } from './place-order/place-order.http.controller.js';
import { PlaceOrderHandler } from './place-order/place-order.handler.js';
import { CommandErrorFilter } from './shared/command-error.filter.js';

@Module({
  imports: [
    ConfigModule,
    DatabaseModule.forRoot({ applicationName: 'command-api' }),
    MessagingModule,
    EventStoreModule,
    HealthModule.withChecks({
      inject: [DataSource, KafkaHealthCheck],
      useFactory: (dataSource: DataSource, kafka: KafkaHealthCheck) => [postgresHealthCheck(dataSource), kafka],
    }),
  ],
  controllers: [PlaceOrderController],
  providers: [
    PlaceOrderHandler,
    { provide: Clock, useClass: SystemClock },
    { provide: IdGenerator, useClass: RandomIdGenerator },
    { provide: APP_FILTER, useClass: CommandErrorFilter },
  ],
})
export class CommandApiModule {}
