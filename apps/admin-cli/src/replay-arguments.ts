/** What `npm run replay -- …` was asked to do. */
export type ReplayRequest =
  | { readonly kind: 'help' }
  | { readonly kind: 'rebuild'; readonly projections: readonly string[]; readonly dryRun: boolean }
  | {
      readonly kind: 'order';
      readonly projections: readonly string[];
      readonly orderId: string;
      readonly all: boolean;
      readonly dryRun: boolean;
    };

/** A command line that cannot be run; the message says why, and the exit code is 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage: npm run replay -- <projection> | --all [--order <order-id>] [--dry-run]

Rebuilds projections from offset zero into a new generation, then switches readers to it.
The live generation keeps serving until the switch.

  <projection>        the projection to rebuild (see the list below)
  --all               every projection, side by side
  --order <order-id>  rebuild one order's rows alone, reading only its partition
  --dry-run           show what would be done, change nothing
  --help              this text

Exit codes: 0 done, 1 failed, 2 bad command line, 3 a rebuild of it is already running,
130 interrupted (Ctrl-C cancels: the new generation is dropped, the live one untouched).`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses the arguments after `--`. Pure: the projection names it accepts are given. */
export function parseReplayArguments(args: readonly string[], known: readonly string[]): ReplayRequest {
  if (args.includes('--help') || args.includes('-h')) return { kind: 'help' };
  let all = false;
  let dryRun = false;
  let orderId: string | undefined;
  const names: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    if (arg === '--all') all = true;
    else if (arg === '--dry-run') dryRun = true;
    else if (arg === '--order' || arg.startsWith('--order=')) {
      if (orderId !== undefined) throw new UsageError('--order given twice');
      const value = arg === '--order' ? args[++index] : arg.slice('--order='.length);
      if (value === undefined || value === '') throw new UsageError('--order needs an order id');
      if (!UUID.test(value)) throw new UsageError(`--order ${JSON.stringify(value)} is not an order id (a UUID)`);
      orderId = value.toLowerCase();
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    else if (!known.includes(arg))
      throw new UsageError(`unknown projection ${JSON.stringify(arg)}; known projections: ${known.join(', ')}`);
    else if (!names.includes(arg)) names.push(arg);
  }
  if (all && names.length > 0) throw new UsageError('give either --all or projection names, not both');
  if (!all && names.length === 0)
    throw new UsageError(`name a projection or give --all; known projections: ${known.join(', ')}`);
  const projections = all ? known : names;
  if (orderId !== undefined) return { kind: 'order', projections, orderId, all, dryRun };
  return { kind: 'rebuild', projections, dryRun };
}
