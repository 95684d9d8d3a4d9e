import { ConsoleLogger, type LoggerService } from '@nestjs/common';
import { Logger, PinoLogger } from 'nestjs-pino';
import { pino, type DestinationStream } from 'pino';

import { currentTraceIds } from '../tracing/tracing.js';
import { currentCorrelationId } from './request-context.js';

/** Nest's names for pino's levels, as our log lines have always said them (`log`, not `info`). */
const NEST_LEVELS: Readonly<Record<string, string>> = { info: 'log', trace: 'verbose' };

export interface LogStreams {
  /** Lines below `error`. */
  readonly out: DestinationStream;
  /** `error` and `fatal` lines. */
  readonly err: DestinationStream;
}

/**
 * One JSON object per line, written by Pino: `level` (Nest's names: log, warn, error, debug,
 * verbose, fatal), `time`, `app`, `context`, `message`, the `correlationId` of the request being
 * handled, and `trace_id` / `span_id` of the span being recorded (when tracing is on). Errors carry
 * `err` with its stack. Written synchronously, so that a line logged just before an exit is kept.
 */
export function jsonLogger(app: string, streams: LogStreams = standardStreams()): pino.Logger {
  return pino(
    {
      level: 'trace', // Nest filters the levels (its `logger` option); Pino writes what it is given
      base: { app },
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: NEST_LEVELS[label] ?? label }) },
      mixin: () => ({ correlationId: currentCorrelationId(), ...currentTraceIds() }),
    },
    pino.multistream(
      [
        { level: 'trace', stream: streams.out },
        { level: 'error', stream: streams.err },
      ],
      { dedupe: true }, // each line to one stream: errors to stderr only
    ),
  );
}

/**
 * The logger an app gives Nest: nestjs-pino's Nest adapter over `jsonLogger`, or Nest's own readable
 * lines (`LOG_FORMAT=text`). Every `new Logger(context)` in the code writes through it. Pino-http's
 * per-request logging is not mounted: the apps write no access log (it would cost CPU on every
 * command), and the correlation id comes from our own request context. One per process: nestjs-pino
 * keeps a single root logger, the first one made.
 */
export function createLogger(app: string, format: 'json' | 'text', streams?: LogStreams): LoggerService {
  if (format === 'text') return new ConsoleLogger(app);
  return new Logger(new PinoLogger({ pinoHttp: { logger: jsonLogger(app, streams) } }), {});
}

function standardStreams(): LogStreams {
  return { out: pino.destination({ dest: 1, sync: true }), err: pino.destination({ dest: 2, sync: true }) };
}
