import type { IncomingMessage, ServerResponse } from 'node:http';

import { Controller, Get, Header, Inject, Module, type DynamicModule } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per process, labelled with the app's name. Libraries add their own
 * metrics to `registry`; `/metrics` serves them all in the text format.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(readonly app: string) {
    this.registry.setDefaultLabels({ app });
    // The event-loop delay histogram samples every 100 ms, not prom-client's default 10 ms: a timer
    // that wakes every process a hundred times a second costs more CPU than an idle app spends.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
  }

  /**
   * Times a request from now until its response is sent; `route` is the pattern it matched
   * (`/orders/:id`, never the raw path), or undefined for none.
   */
  timeRequest(request: Pick<IncomingMessage, 'method'>, response: ServerResponse, route: string | undefined): void {
    const end = this.httpDuration.startTimer();
    response.once('finish', () => {
      end({ method: request.method ?? 'unknown', route: route ?? 'unmatched', status: String(response.statusCode) });
    });
  }
}

/** Operational, not part of an API's contract: left out of OpenAPI documents. */
@ApiExcludeController()
@Controller('metrics')
class MetricsController {
  constructor(@Inject(Metrics) private readonly metrics: Metrics) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}

@Module({})
export class MetricsModule {
  static forApp(app: string): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      controllers: [MetricsController],
      providers: [{ provide: Metrics, useFactory: () => new Metrics(app) }],
      exports: [Metrics],
    };
  }
}
