import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

import { orderEventsAsyncApi } from '@app/messaging';
import { APP_CONFIG, type AppConfig } from '@app/platform';

/**
 * The event contract as AsyncAPI 3, for outside consumers to generate their code from: every event
 * type at every schema version, with this deployment's brokers and topics (docs/asyncapi.json is the
 * same document with the defaults). Beside the OpenAPI document of the HTTP commands.
 */
@ApiExcludeController()
@Controller('docs')
export class AsyncApiController {
  private readonly document: Record<string, unknown>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.document = orderEventsAsyncApi(config);
  }

  @Get('asyncapi.json')
  @Header('Cache-Control', 'no-cache')
  asyncApi(): Record<string, unknown> {
    return this.document;
  }
}
