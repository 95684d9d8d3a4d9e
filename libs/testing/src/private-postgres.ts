import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePorts } from './free-port.js';

const run = promisify(execFile);

/** The folder with initdb and pg_ctl: `pg_config --bindir`, else the newest /usr/lib/postgresql/<n>/bin, else PATH. */
function postgresBinaries(): string {
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(bindir, 'initdb'))) return bindir;
  } catch {
    // no pg_config: look where Debian and Ubuntu put the server
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest ? join(root, newest, 'bin') : '';
}

/**
 * A Postgres cluster of its own, for a test that crashes it: initdb into a temporary folder, served
 * on a free port of 127.0.0.1 with trust authentication. The shared server is never touched.
 * Run as root (CI), the cluster belongs to the `postgres` user, since Postgres refuses to run as root.
 */
export class PrivatePostgres {
  private readonly bin = postgresBinaries();
  private readonly asRoot = process.getuid?.() === 0;
  private readonly data: string;

  private constructor(
    private readonly root: string,
    readonly port: number,
    private readonly logical: boolean,
  ) {
    this.data = join(root, 'data');
    process.once('exit', this.onExit);
  }

  /** Stops the cluster if the test process exits without `destroy()` (an uncaught error, process.exit). */
  private readonly onExit = (): void => {
    try {
      const [command, args] = this.command('pg_ctl', ['-D', this.data, '-m', 'immediate', 'stop']);
      if (existsSync(join(this.data, 'postmaster.pid')))
        execFileSync(command, args, { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // already stopped
    }
    rmSync(this.root, { recursive: true, force: true });
  };

  /** A URL of the cluster's `postgres` database; createTestEnvironment puts its own database name in. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /**
   * `logical`: wal_level=logical with room for replication slots and their walsenders, for
   * Debezium's connector (the shared server's WAL is `replica`, which cannot be decoded).
   */
  static async start({ logical = false }: { logical?: boolean } = {}): Promise<PrivatePostgres> {
    const root = mkdtempSync(join(tmpdir(), 'orders-pg-'));
    const cluster = new PrivatePostgres(root, await freePorts(1), logical);
    try {
      if (cluster.asRoot) {
        const [uid, gid] = ['-u', '-g'].map((flag) =>
          Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim()),
        );
        chownSync(root, uid ?? 0, gid ?? 0);
      }
      await cluster.pg('initdb', ['-D', cluster.data, '--auth=trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
      await cluster.startServer();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  /** `pg_ctl stop -m immediate`: every backend is killed without a checkpoint, as in a crash. */
  async crash(): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.data, '-m', 'immediate', 'stop']);
  }

  /** Starts the cluster again on the same port; resolves once it accepts connections (crash recovery done). */
  async startServer(): Promise<void> {
    // fsync off: a process crash loses nothing the OS has, and the machine is shared.
    let options = `-p ${this.port} -k ${this.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    if (this.logical) options += ' -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10';
    await this.pg('pg_ctl', ['-D', this.data, '-o', options, '-l', join(this.root, 'log'), 'start', '-w', '-t', '120']);
  }

  /** Stops the cluster if it runs and deletes its folder. */
  async destroy(): Promise<void> {
    process.off('exit', this.onExit);
    if (existsSync(join(this.data, 'postmaster.pid'))) await this.crash().catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The command line that runs a Postgres program as the cluster's owner. */
  private command(program: string, args: readonly string[]): [string, string[]] {
    const binary = this.bin ? join(this.bin, program) : program;
    return this.asRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, [...args]];
  }

  private async pg(program: string, args: readonly string[]): Promise<void> {
    const [command, commandArgs] = this.command(program, args);
    try {
      await run(command, commandArgs, { timeout: 150_000 });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`${program} ${args.join(' ')} failed: ${String(error)}\n${stdout}${stderr}`, { cause: error });
    }
  }
}
