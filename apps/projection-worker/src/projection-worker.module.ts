import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { KafkaHealthCheck, MessagingModule } from '@app/messaging';
import {
  ConfigModule,
  DatabaseModule,
  HealthModule,
  MetricsModule,
  postgresHealthCheck,
  TracingModule,
} from '@app/platform';
import { projections } from '@app/projections';

import { ClusterMetrics } from './cluster-metrics.js';
import { PROJECTIONS, ProjectionsTransport } from './projections.transport.js';

@Module({
  imports: [
    ConfigModule,
    TracingModule,
    MetricsModule.forApp('projection-worker'),
    DatabaseModule.forRoot({ side: 'read', applicationName: 'projection-worker' }),
    MessagingModule,
    HealthModule.withChecks({
      inject: [DataSource, KafkaHealthCheck],
      useFactory: (dataSource: DataSource, kafka: KafkaHealthCheck) => [postgresHealthCheck(dataSource), kafka],
    }),
  ],
  providers: [{ provide: PROJECTIONS, useValue: projections }, ProjectionsTransport, ClusterMetrics],
  exports: [ProjectionsTransport, ClusterMetrics],
})
export class ProjectionWorkerModule {}
