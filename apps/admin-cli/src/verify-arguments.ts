import { UsageError } from './replay-arguments.js';

export { UsageError } from './replay-arguments.js';

/** What `npm run verify -- …` was asked to do. */
export type VerifyRequest =
  | { readonly kind: 'help' }
  | {
      readonly kind: 'verify';
      readonly projections: readonly string[];
      readonly topics: boolean;
      /** Differences printed; every one is counted. */
      readonly printLimit: number;
      readonly json: boolean;
      /** The query API to ask for a sample of orders, customers and buckets. */
      readonly queryApi: string | null;
    };

/** Exit codes: the process's answer for scripts and runbooks. */
export const VERIFY_EXIT = { agree: 0, differences: 1, usage: 2, couldNotRun: 3 } as const;

export const VERIFY_USAGE = `Usage: npm run verify -- [--projection <name>]... [--skip-topics] [--query-api <url>] [--limit-differences <n>] [--json]

Folds the event store from scratch and compares every read model, side table and bookkeeping row
(order versions, offsets, parked events) with it, and checks the orders topic and the dead-letter
topic against the store. Reads DATABASE_URL, READ_DATABASE_URL, KAFKA_BROKERS and ORDERS_TOPIC like the apps.
Prints each difference on stdout (projection, table, key, field, expected, found), progress on stderr.

  --projection <name>      check only this projection (repeatable); all by default
  --skip-topics            read the database only: no topic, dead-letter or offset check
  --query-api <url>        also compare the query API's JSON for a sample of orders, customers and buckets
  --limit-differences <n>  print at most n differences (all are counted); default 1000
  --json                   print each difference, and the figures at the end, as one JSON object a line
  --help                   this text

Exit codes: 0 everything agrees, 1 differences found, 2 bad command line,
3 could not run (database or broker unreachable, schema not migrated).`;

/** Parses the arguments after `--`. Pure: the projection names it accepts are given. */
export function parseVerifyArguments(args: readonly string[], known: readonly string[]): VerifyRequest {
  if (args.includes('--help') || args.includes('-h')) return { kind: 'help' };
  const projections: string[] = [];
  let topics = true;
  let printLimit: number | undefined;
  let json = false;
  let queryApi: string | null = null;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    const [name, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string => {
      const given = inline ?? args[++index];
      if (given === undefined || given === '' || (inline === undefined && given.startsWith('--')))
        throw new UsageError(`${name} needs a value`);
      return given;
    };
    if (name === '--projection') {
      const projection = value();
      if (!known.includes(projection))
        throw new UsageError(
          `unknown projection ${JSON.stringify(projection)}; known projections: ${known.join(', ')}`,
        );
      if (!projections.includes(projection)) projections.push(projection);
    } else if (name === '--limit-differences') {
      if (printLimit !== undefined) throw new UsageError('--limit-differences given twice');
      const text = value();
      if (!/^\d+$/.test(text) || Number(text) > 1_000_000_000)
        throw new UsageError(`--limit-differences ${JSON.stringify(text)} is not a whole number from 0 to 1000000000`);
      printLimit = Number(text);
    } else if (name === '--query-api') {
      const url = value();
      if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
        throw new UsageError(`--query-api ${JSON.stringify(url)} is not an http(s) URL`);
      queryApi = url;
    } else if (arg === '--skip-topics') topics = false;
    else if (arg === '--json') json = true;
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
    else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}; name projections with --projection`);
  }
  return {
    kind: 'verify',
    projections: projections.length > 0 ? projections : known,
    topics,
    printLimit: printLimit ?? 1_000,
    json,
    queryApi,
  };
}
