import { Module, type Type } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { DataSource } from 'typeorm';

import { EventStoreModule } from '@app/event-store';
import { KafkaHealthCheck, MessagingModule } from '@app/messaging';
import type { OrderCommand } from '@app/orders-domain';
import {
  AdminTokenGuard,
  Clock,
  ConfigModule,
  DatabaseModule,
  HealthModule,
  IdGenerator,
  MetricsModule,
  postgresHealthCheck,
  RandomIdGenerator,
  SystemClock,
  TracingModule,
} from '@app/platform';

import { AddOrderLineController } from './add-order-line/add-order-line.http.controller.js';
import { CancelOrderController } from './cancel-order/cancel-order.http.controller.js';
import { ConfirmOrderController } from './confirm-order/confirm-order.http.controller.js';
import { DeliverOrderController } from './deliver-order/deliver-order.http.controller.js';
import { AsyncApiController } from './event-contract/asyncapi.http.controller.js';
import { OutboxController } from './outbox/outbox.http.controller.js';
import { PlaceOrderController } from './place-order/place-order.http.controller.js';
import { RemoveOrderLineController } from './remove-order-line/remove-order-line.http.controller.js';
import { ReturnOrderController } from './return-order/return-order.http.controller.js';
import { CommandErrorFilter } from './shared/command-error.filter.js';
import { OrderCommandHandler } from './shared/order-command.handler.js';
import { ShipOrderController } from './ship-order/ship-order.http.controller.js';

/**
 * Every command has its endpoint: a command added to OrderCommand without a controller here fails
 * `npm run typecheck` on this object (and a key that is no command fails it too).
 */
export const commandControllers = {
  PlaceOrder: PlaceOrderController,
  AddOrderLine: AddOrderLineController,
  RemoveOrderLine: RemoveOrderLineController,
  ConfirmOrder: ConfirmOrderController,
  ShipOrder: ShipOrderController,
  DeliverOrder: DeliverOrderController,
  CancelOrder: CancelOrderController,
  ReturnOrder: ReturnOrderController,
} satisfies Record<OrderCommand['type'], Type>;

@Module({
  imports: [
    ConfigModule,
    TracingModule,
    MetricsModule.forApp('command-api'),
    DatabaseModule.forRoot({ side: 'write', applicationName: 'command-api' }),
    MessagingModule,
    EventStoreModule,
    HealthModule.withChecks({
      inject: [DataSource, KafkaHealthCheck],
      useFactory: (dataSource: DataSource, kafka: KafkaHealthCheck) => [postgresHealthCheck(dataSource), kafka],
    }),
  ],
  controllers: [...Object.values(commandControllers), AsyncApiController, OutboxController],
  providers: [
    OrderCommandHandler,
    AdminTokenGuard,
    { provide: Clock, useClass: SystemClock },
    { provide: IdGenerator, useClass: RandomIdGenerator },
    { provide: APP_FILTER, useClass: CommandErrorFilter },
  ],
})
export class CommandApiModule {}
