import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { eventually } from './eventually.js';
import { freePorts } from './free-port.js';
import { processAlive } from './process-state.js';
import { repositoryRoot } from './repository.js';

const run = promisify(execFile);

/**
 * A Kafka broker of its own, for a test that kills it: started by scripts/kafka.sh on a free client
 * port (controller on the next one), with its own data dir, log dir and pid file in the Kafka cache.
 * The shared broker on 9092 is never touched. `destroy()` kills it and deletes its storage.
 */
export class PrivateBroker {
  private readonly script = join(repositoryRoot(), 'scripts', 'kafka.sh');
  private readonly cache = process.env.KAFKA_CACHE_DIR ?? join(repositoryRoot(), '.cache', 'kafka');

  /** Kills the broker if the test process exits without `destroy()` (an uncaught error, process.exit). */
  private readonly onExit = (): void => {
    const pid = this.pid;
    if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    this.removeStorage();
  };

  private constructor(readonly port: number) {
    process.once('exit', this.onExit);
  }

  /** `host:port`, for KAFKA_BROKERS. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateBroker> {
    const broker = new PrivateBroker(await freePorts(2));
    try {
      await broker.restart();
    } catch (error) {
      await broker.destroy();
      throw error;
    }
    return broker;
  }

  /** The broker JVM's pid, from the pid file scripts/kafka.sh writes. */
  get pid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.cache, `kafka-${this.port}.pid`), 'utf8').trim());
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** `kill -9`, then waits until the process is gone (its ports are free again). */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined || !processAlive(pid)) return;
    process.kill(pid, 'SIGKILL');
    await eventually(
      () => {
        if (processAlive(pid)) throw new Error(`broker pid ${pid} is still running`);
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  /** Starts the broker on the same port and data dir; resolves once it answers a metadata request. */
  async restart(): Promise<void> {
    await run('bash', [this.script, 'start'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: this.address,
        KAFKA_CACHE_DIR: this.cache,
        KAFKA_HEAP_OPTS: process.env.KAFKA_HEAP_OPTS ?? '-Xms128m -Xmx384m',
      },
      timeout: 120_000,
    });
  }

  /** Kills the broker if it runs and deletes everything scripts/kafka.sh made for this port. */
  async destroy(): Promise<void> {
    process.off('exit', this.onExit);
    await this.kill().catch(() => undefined);
    this.removeStorage();
  }

  private removeStorage(): void {
    for (const path of [
      `data-${this.port}`,
      `logs-${this.port}`,
      `kafka-${this.port}.pid`,
      `server-${this.port}.properties`,
    ]) {
      rmSync(join(this.cache, path), { recursive: true, force: true });
    }
  }
}
