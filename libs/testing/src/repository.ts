import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder above this file that has scripts/kafka.sh (works from src and dist-test). */
export function repositoryRoot(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'scripts', 'kafka.sh'))) return dir;
    if (dirname(dir) === dir) throw new Error('scripts/kafka.sh not found above libs/testing');
  }
}
