import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';

import { flushTraces } from './tracing.js';

@Injectable()
class FlushTracesOnShutdown implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await flushTraces(); // spans still buffered would be lost with the process
  }
}

/** Imported by every app: the spans of its last moments are sent before it exits. */
@Module({ providers: [FlushTracesOnShutdown] })
export class TracingModule {}
