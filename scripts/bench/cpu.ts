/**
 * CPU time of the system's processes, read from `/proc/<pid>/stat` (Linux): user + system time, in
 * clock ticks of 10 ms. The benchmark takes a sample before and after a load phase and divides the
 * difference by the orders placed in it (docs/benchmarks.md, "CPU per order").
 */
import { readFileSync, readdirSync } from 'node:fs';

/** `getconf CLK_TCK`: 100 on every Linux the benchmark runs on. */
const TICK_MS = 10;

/** The processes counted: ours by pid, Postgres and Kafka found by their command lines. */
export const CPU_PROCESSES = ['command_api', 'projection_worker', 'query_api', 'postgres', 'kafka'] as const;
export type CpuProcess = (typeof CPU_PROCESSES)[number];
export type CpuSample = Readonly<Record<CpuProcess, number>>;

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime of the process itself, in ms. */
  readonly ownMs: number;
  /** cutime + cstime: the children it has waited for, in ms. */
  readonly reapedMs: number;
}

function stat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  } catch {
    return undefined; // exited between the listing and the read
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const at = (field: number): number => Number(fields[field - 3]);
  return {
    pid,
    ppid: at(4),
    ownMs: (at(14) + at(15)) * TICK_MS,
    reapedMs: (at(16) + at(17)) * TICK_MS,
  };
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/**
 * Every Postgres server on the machine counts (the benchmark's database may be on any of them): each
 * postmaster with its live children, and what it has reaped from exited ones (a closed connection's
 * backend).
 */
function postgresMs(all: readonly number[]): number {
  const stats = all
    .filter((pid) => /(^|\/)postgres( |$)|^postgres: /.test(commandLine(pid)))
    .map(stat)
    .filter((s): s is Stat => s !== undefined);
  const ids = new Set(stats.map((s) => s.pid));
  return stats.reduce((sum, s) => sum + s.ownMs + (ids.has(s.ppid) ? 0 : s.reapedMs), 0);
}

/** CPU used so far by Kafka's brokers on the machine, in ms. */
export function kafkaMs(all: readonly number[] = pids()): number {
  return all
    .filter((pid) => commandLine(pid).includes('kafka.Kafka'))
    .reduce((sum, pid) => sum + (stat(pid)?.ownMs ?? 0), 0);
}

/** CPU used so far by one process, all its threads, in ms; NaN once it has exited. */
export function processCpuMs(pid: number): number {
  return stat(pid)?.ownMs ?? Number.NaN;
}

/** CPU used so far, in ms, by the servers every phase shares: every Postgres, and Kafka's broker. */
export function sampleServersCpu(): Readonly<Record<'postgres' | 'kafka', number>> {
  const all = pids();
  return { postgres: postgresMs(all), kafka: kafkaMs(all) };
}

/**
 * CPU used so far, in ms, by the children of this process that have exited and been reaped: around
 * one child's whole life, with no other child exiting meanwhile, the difference is that child's CPU
 * to the last tick (sampling `/proc/<pid>` cannot see its last moments).
 */
export function reapedChildrenCpuMs(): number {
  return stat(process.pid)?.reapedMs ?? Number.NaN;
}

/** CPU used so far, in ms, by each counted process; `apps` are the pids of our three processes. */
export function sampleCpu(
  apps: Readonly<Record<'command_api' | 'projection_worker' | 'query_api', number>>,
): CpuSample {
  return {
    command_api: processCpuMs(apps.command_api),
    projection_worker: processCpuMs(apps.projection_worker),
    query_api: processCpuMs(apps.query_api),
    ...sampleServersCpu(),
  };
}

/** The CPU time the five processes took between two samples, in ms. */
function systemCpuMs(before: CpuSample, after: CpuSample): number {
  return CPU_PROCESSES.reduce((sum, name) => sum + after[name] - before[name], 0);
}

/** Milliseconds of CPU per order between two samples, per process and in total (2 decimals). */
export function cpuPerOrder(
  before: CpuSample,
  after: CpuSample,
  orders: number,
): Readonly<Record<CpuProcess | 'total', number>> {
  return cpuPer(before, after, orders, { perMs: 1, decimals: 2 });
}

/**
 * Microseconds of CPU per unit of work (a consumed message, a replayed event) between two samples
 * in ms of the same parts, per part and in their total (1 decimal).
 */
export function cpuUsPer<Part extends string>(
  before: Readonly<Record<Part, number>>,
  after: Readonly<Record<Part, number>>,
  units: number,
): Readonly<Record<Part | 'total', number>> {
  return cpuPer(before, after, units, { perMs: 1_000, decimals: 1 });
}

/** CPU per unit between two samples in ms of the same parts, per part and in total, `perMs` units of time to a ms. */
function cpuPer<Part extends string>(
  before: Readonly<Record<Part, number>>,
  after: Readonly<Record<Part, number>>,
  units: number,
  { perMs, decimals }: { perMs: number; decimals: number },
): Readonly<Record<Part | 'total', number>> {
  const parts = Object.keys(before) as Part[];
  const rounding = 10 ** decimals;
  const per = (ms: number): number => Math.round((ms / units) * perMs * rounding) / rounding;
  const spent = parts.map((part) => [part, after[part] - before[part]] as const);
  return {
    ...(Object.fromEntries(spent.map(([part, ms]) => [part, per(ms)])) as Record<Part, number>),
    total: per(spent.reduce((sum, [, ms]) => sum + ms, 0)),
  };
}

/** The machine's CPU time so far, in ms summed over its cores: `busy` (all but idle and iowait) and `all`. */
export interface MachineCpu {
  readonly busyMs: number;
  readonly allMs: number;
}

/** The machine's CPU time so far, from `/proc/stat`. */
export function machineCpu(): MachineCpu {
  return parseProcStat(readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '');
}

/**
 * `/proc/stat`'s first line: `cpu` then user nice system idle iowait irq softirq steal guest
 * guest_nice, in ticks. Guest time is already counted in user (and guest_nice in nice), so only the
 * first eight count.
 */
export function parseProcStat(line: string): MachineCpu {
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busyMs: busy * TICK_MS, allMs: (busy + idle + iowait) * TICK_MS };
}

/** This process's own CPU time so far, user and system, in ms: the benchmark's client or ceiling. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1_000;
}

/**
 * Cores in use between two samples: the machine's, busy and in all, the counted processes' together,
 * and the benchmark process's own (`clientMs`, its `process.cpuUsage()` over the span: mostly the
 * client placing and reading orders, which shares the machine with the system it measures). CPU
 * per order is always the processes' cores divided by the rate; when the machine is busy nearly all
 * the time, the processes had only the cores left to them, and with this code they use them at any
 * rate above about 100 orders/s, so their CPU per order follows the rate more than the code
 * (docs/benchmarks.md, "An eighth look").
 */
export function coresBetween(
  machine: { readonly before: MachineCpu; readonly after: MachineCpu },
  processes: { readonly before: CpuSample; readonly after: CpuSample },
  wallMs: number,
  clientMs: number,
): { readonly machine: number; readonly machine_busy: number; readonly system: number; readonly client: number } {
  const cores = (ms: number): number => Math.round((ms / wallMs) * 100) / 100;
  return {
    machine: cores(machine.after.allMs - machine.before.allMs),
    machine_busy: cores(machine.after.busyMs - machine.before.busyMs),
    system: cores(systemCpuMs(processes.before, processes.after)),
    client: cores(clientMs),
  };
}
