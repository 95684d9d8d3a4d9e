import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The compiled repository root (dist/), where the apps' main.js files are. */
const dist = join(import.meta.dirname, '..', '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
  });
}

/** A compiled script as its own process, started and stopped by the benchmark; its peak memory is sampled. */
export class BenchProcess {
  /** Every process started and not yet exited, so that a failed or interrupted run stops them all. */
  private static readonly running = new Set<BenchProcess>();

  static async stopAll(): Promise<void> {
    await Promise.all([...BenchProcess.running].map((p) => p.stop()));
  }

  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private output = '';

  constructor(
    script: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
    readyLine?: RegExp,
    nodeFlags: readonly string[] = [],
  ) {
    // BENCH_CPU_PROF_DIR=<dir>: each process writes a V8 CPU profile there when it stops (docs/benchmarks.md).
    const profile = process.env.BENCH_CPU_PROF_DIR
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`]
      : [];
    this.child = spawn(process.execPath, [...nodeFlags, ...profile, join(dist, script), ...args], {
      env: { ...process.env, ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    BenchProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        BenchProcess.running.delete(this);
        resolve(code);
      }),
    );
    const [stdout, stderr] = [this.child.stdout, this.child.stderr];
    if (!stdout || !stderr) throw new Error('spawned without pipes');
    const lines = createInterface({ input: stdout });
    this.ready = new Promise((resolve, reject) => {
      if (!readyLine) resolve();
      lines.on('line', (line) => {
        this.keep(line);
        if (readyLine?.test(line)) resolve();
      });
      void this.exited.then((code) => {
        reject(new Error(`${script} exited (${String(code)}) before it was ready:\n${this.output}`));
      });
    });
    createInterface({ input: stderr }).on('line', (line) => {
      this.keep(line);
    });
  }

  /** Its process id, for `/proc/<pid>/…`. */
  get pid(): number {
    return this.child.pid ?? Number.NaN;
  }

  /** The last lines it printed, for an error message. */
  get tail(): string {
    return this.output;
  }

  /** Resident memory now, in MB (Linux), or undefined once it has exited. */
  rssMb(): number | undefined {
    try {
      const status = readFileSync(`/proc/${String(this.child.pid)}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return kb === undefined ? undefined : Number(kb) / 1024;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  private keep(line: string): void {
    this.output = `${this.output}${line}\n`.slice(-4_000);
  }
}
