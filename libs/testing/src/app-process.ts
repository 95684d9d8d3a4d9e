import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import type { AppConfig } from '@app/platform';

const MAX_KEPT_LINES = 5_000;

/** The environment variables that give a separately started app the test environment's configuration. */
export function configToEnv(config: AppConfig): Record<string, string> {
  return {
    DATABASE_URL: config.databaseUrl,
    READ_DATABASE_URL: config.readDatabaseUrl,
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    KAFKA_CLIENT_ID: config.kafka.clientId,
    ORDERS_TOPIC: config.kafka.ordersTopic,
    ORDERS_TOPIC_PARTITIONS: String(config.kafka.ordersTopicPartitions),
    KAFKA_GROUP_PREFIX: config.kafka.groupPrefix,
    KAFKA_SESSION_TIMEOUT_MS: String(config.kafka.sessionTimeoutMs),
    HOST: '127.0.0.1',
    COMMAND_API_PORT: '0',
    QUERY_API_PORT: '0',
    PROJECTION_WORKER_PORT: '0',
    OUTBOX_RELAY: config.relay.mode,
    OUTBOX_CAPTURE_SLOT: config.relay.captureSlot,
    ...(config.adminToken ? { ADMIN_TOKEN: config.adminToken } : {}),
  };
}

/**
 * An app running as its own process, from the compiled tests' copy of its main.js, so that it can
 * be killed for real (`kill -9`, SIGSTOP). `ready` resolves when its log says it is serving.
 */
export class AppProcess {
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private served: string | undefined;
  private readonly lines: string[] = [];

  /** `env` is added to the configuration's, e.g. a fixed port that survives a restart. */
  constructor(
    app: 'command-api' | 'projection-worker' | 'query-api',
    config: AppConfig,
    readyLine = /listening on|projections running/,
    env: Readonly<Record<string, string>> = {},
  ) {
    const main = join(import.meta.dirname, '..', '..', '..', 'apps', app, 'src', 'main.js');
    this.child = spawn(process.execPath, [main], {
      env: { ...process.env, ...configToEnv(config), ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        resolve(code);
      }),
    );
    this.ready = new Promise((resolve, reject) => {
      const keep = (line: string): void => {
        this.lines.push(line);
        if (this.lines.length > MAX_KEPT_LINES) this.lines.shift();
      };
      createInterface({ input: this.child.stderr! }).on('line', keep);
      const lines = createInterface({ input: this.child.stdout! });
      lines.on('line', (line) => {
        keep(line);
        if (!readyLine.test(line)) return;
        this.served ??= /(https?:\/\/[^\s;"]+)/.exec(line)?.[1];
        resolve();
      });
      void this.exited.then((code) => {
        reject(new Error(`${app} exited (${code}) before it was ready`));
      });
    });
  }

  /** The process's latest log lines, stdout and stderr, for asserting on what it reported. */
  get log(): readonly string[] {
    return this.lines;
  }

  /** The base URL from the ready line (`listening on http://…`); only once `ready` has resolved. */
  get url(): string {
    if (this.served === undefined)
      throw new Error('the app has not logged the address it listens on yet: await ready first');
    return this.served;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Stops the process with `signal` and waits until it is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }
}

/** `npm run replay -- …` as its own process, from the compiled tests' copy, so that it can be killed for real. */
export class AdminCliProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  private readonly child: ChildProcess;

  constructor(config: AppConfig, args: readonly string[]) {
    const main = join(import.meta.dirname, '..', '..', '..', 'apps', 'admin-cli', 'src', 'main.js');
    this.child = spawn(process.execPath, [main, ...args], {
      env: { ...process.env, ...configToEnv(config), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    this.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        resolve({ code, signal, stdout, stderr });
      }),
    );
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
