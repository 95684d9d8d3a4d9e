import { readFileSync } from 'node:fs';

/**
 * Whether `pid` is a live process. A killed process that nobody has reaped yet (its parent exited,
 * and the container's init does not reap) is a zombie: `kill(pid, 0)` still succeeds on it.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux'; // no /proc: trust kill(pid, 0)
  }
}
