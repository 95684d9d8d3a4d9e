import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ConnectWorker } from '@app/event-store';

import { freePorts } from './free-port.js';
import { processAlive } from './process-state.js';
import { repositoryRoot } from './repository.js';

const run = promisify(execFile);

export type { ConnectorStatus } from '@app/event-store';

export interface PrivateConnectOptions {
  /** `host:port` of the brokers the worker produces to. */
  readonly brokers: readonly string[] | string;
  /** The worker's JVM heap (CONNECT_HEAP_OPTS); a test worker needs little. */
  readonly heapOpts?: string;
}

/**
 * A Kafka Connect standalone worker of its own (`scripts/connect.sh worker`, with Debezium's Postgres
 * connector on its classpath), for a test that registers, kills and restarts connectors: a child
 * java process on a free REST port, with its config, offsets file and log in a temporary folder that
 * `destroy()` deletes. The offsets file stays across `kill()`/`stop()` and `restart()`, as a
 * production worker's would. Nothing on the default port 8083 is touched.
 */
export class PrivateConnect {
  private readonly script = join(repositoryRoot(), 'scripts', 'connect.sh');
  private child: ChildProcess | undefined;
  /** How long the last start took, until the REST API answered. */
  startedInMs = 0;

  /** Kills the worker if the test process exits without `destroy()`. */
  private readonly onExit = (): void => {
    const pid = this.pid;
    if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(this.home, { recursive: true, force: true });
  };

  private constructor(
    readonly home: string,
    readonly port: number,
    private readonly brokers: string,
    private readonly heapOpts: string,
  ) {
    process.once('exit', this.onExit);
  }

  static async start({ brokers, heapOpts = '-Xms64m -Xmx384m' }: PrivateConnectOptions): Promise<PrivateConnect> {
    const listed = typeof brokers === 'string' ? brokers : brokers.join(',');
    const worker = new PrivateConnect(
      mkdtempSync(join(tmpdir(), 'orders-connect-')),
      await freePorts(1),
      listed,
      heapOpts,
    );
    try {
      // Resolving the jars once (Maven) is not part of the worker's start.
      await run('bash', [worker.script, 'fetch'], { timeout: 600_000 });
      await worker.launch();
    } catch (error) {
      await worker.destroy();
      throw error;
    }
    return worker;
  }

  /** The REST API's base URL. */
  get url(): string {
    return `http://127.0.0.1:${String(this.port)}`;
  }

  /** The JVM's pid while it runs (bash execs java, so the child's pid is the JVM's). */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** The worker's log (log4j2), for error messages. */
  get logPath(): string {
    return join(this.home, 'logs', 'connect.log');
  }

  /** The worker's REST API (register, status, waitRunning, assertNotFailed, remove). */
  get rest(): ConnectWorker {
    return new ConnectWorker(this.url);
  }

  register(name: string, config: Readonly<Record<string, string>>): Promise<void> {
    return this.rest.register(name, config);
  }

  status(name: string): ReturnType<ConnectWorker['status']> {
    return this.rest.status(name);
  }

  /** ConnectWorker.waitRunning, giving up at once if the worker exits; errors name its log. */
  async waitRunning(name: string, timeoutMs = 60_000): Promise<void> {
    try {
      await this.rest.waitRunning(name, timeoutMs, () => {
        if (this.pid === undefined) throw new Error('the Connect worker exited');
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n(worker log: ${this.logPath})`, { cause: error });
    }
  }

  assertNotFailed(name: string): Promise<void> {
    return this.rest.assertNotFailed(name);
  }

  /** Deletes a connector (its offsets stay in the file; its replication slot stays in Postgres). */
  remove(name: string): Promise<void> {
    return this.rest.remove(name);
  }

  /** `kill -9` of the worker: nothing flushed, nothing committed. Resolves once it is gone. */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  /** A graceful stop (SIGTERM): tasks stop and offsets are flushed. Resolves once it has exited. */
  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  /** Starts the worker again, on the same port with the same offsets file; resolves once REST answers. */
  async restart(): Promise<void> {
    if (this.pid !== undefined) throw new Error('the worker runs: stop() or kill() it first');
    await this.launch();
  }

  /**
   * Lets the test process end while the worker runs (for a worker shared by a whole test file, which
   * no hook stops): the exit handler kills it then, as it would after a crash.
   */
  unref(): void {
    this.child?.unref();
  }

  /** Stops the worker if it runs and deletes its folder. */
  async destroy(): Promise<void> {
    process.off('exit', this.onExit);
    await this.stop().catch(() => this.kill());
    rmSync(this.home, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const started = Date.now();
    const out = openSync(join(this.home, 'connect.out'), 'a');
    try {
      this.child = spawn('bash', [this.script, 'worker'], {
        env: {
          ...process.env,
          CONNECT_PORT: String(this.port),
          CONNECT_HOME: this.home,
          KAFKA_BROKERS: this.brokers,
          CONNECT_HEAP_OPTS: this.heapOpts,
        },
        stdio: ['ignore', out, out],
      });
    } finally {
      closeSync(out);
    }
    const child = this.child;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the Connect worker exited on start (log: ${this.logPath})\n${this.tail()}`);
      if (await this.answers()) break;
      if (Date.now() > deadline) throw new Error(`the Connect worker did not answer within 120 s\n${this.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.startedInMs = Date.now() - started;
  }

  /** Whether the REST API answers; Connect says 503 until the worker has started. */
  private async answers(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/connectors`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve();
      }),
    );
    child.kill(signal);
    // A graceful stop waits for tasks (5 s each by default); past a minute it is not graceful.
    const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timeout);
  }

  private tail(): string {
    const lines: string[] = [];
    for (const file of [join(this.home, 'connect.out'), this.logPath])
      if (existsSync(file)) lines.push(...readFileSync(file, 'utf8').split('\n').slice(-30));
    return lines.join('\n');
  }
}
