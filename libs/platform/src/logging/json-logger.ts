import { ConsoleLogger, type LoggerService } from '@nestjs/common';

import { currentCorrelationId } from './request-context.js';

type Level = 'fatal' | 'error' | 'warn' | 'log' | 'debug' | 'verbose';

/**
 * One JSON object per line: time, level, app, context, message, and the correlation id of the
 * request being handled. What log pipelines parse; `LOG_FORMAT=text` gives Nest's readable output.
 */
export class JsonLogger implements LoggerService {
  constructor(private readonly app: string) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: Level, message: unknown, rest: unknown[]): void {
    // Nest passes the context last, and for errors a stack before it.
    const context = typeof rest.at(-1) === 'string' ? (rest.at(-1) as string) : undefined;
    const stack =
      level === 'error' || level === 'fatal'
        ? rest.find((item, index) => index < rest.length - 1 && typeof item === 'string')
        : undefined;
    const line = JSON.stringify({
      time: new Date().toISOString(),
      level,
      app: this.app,
      context,
      message: message instanceof Error ? message.message : message,
      correlationId: currentCorrelationId(),
      stack: stack ?? (message instanceof Error ? message.stack : undefined),
    });
    (level === 'error' || level === 'fatal' ? process.stderr : process.stdout).write(`${line}\n`);
  }
}

export function createLogger(app: string, format: 'json' | 'text'): LoggerService {
  return format === 'json' ? new JsonLogger(app) : new ConsoleLogger(app);
}
