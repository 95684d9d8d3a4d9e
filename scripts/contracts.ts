/**
 * The event contract's published files, and the gate that keeps them compatible:
 *
 *   npm run contracts:check            this commit's schemas against every released version of them;
 *                                      exit 1 on a breaking change, naming the event, the version and the change
 *   npm run contracts:write            checks the same, then writes docs/contracts/** and docs/asyncapi.json
 *                                      from the code (it refuses to write over a break)
 *
 * Released versions: docs/contracts as it is, and as every commit in its git history left it (a
 * shallow clone has fewer). Rewriting a file does not release a break: its history still holds the
 * version that outside consumers already read. `--released <dir>` takes another folder (and its
 * history, if it is in a git repository). See docs/how-to.md, "Change an event's shape".
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual, parseArgs } from 'node:util';

import {
  ORDER_EVENTS,
  compareContracts,
  contractSchemaFiles,
  publishedAsyncApi,
  type ContractChange,
} from '@app/messaging';

type JsonObject = Record<string, unknown>;

const ROOT = resolve(import.meta.dirname, '..', '..');
const USAGE = 'usage: npm run contracts:check | npm run contracts:write [-- --released <dir>]';

function main(): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: { released: { type: 'string', default: join(ROOT, 'docs', 'contracts') } },
    });
  } catch (error) {
    console.error(`contracts: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...extra] = parsed.positionals;
  const released = resolve(parsed.values.released);
  if (extra.length > 0 || (command !== 'check' && command !== 'write')) {
    console.error(
      `contracts: expected "check" or "write"${command ? `, not ${JSON.stringify(command)}` : ''}\n${USAGE}`,
    );
    return 2;
  }
  try {
    return command === 'write' ? write(released) : check(released);
  } catch (error) {
    console.error(`contracts: ${(error as Error).message}`);
    return 2;
  }
}

function check(folder: string): number {
  const releases = releasedVersions(folder);
  if (releases.length === 0) {
    console.error(
      `contracts: no released schemas in ${folder}; run \`npm run contracts:write\` to publish the first ones`,
    );
    return 1;
  }
  const changes = compareWithEvery(releases);
  for (const { subject, change, breaking } of changes) console.log(`${breaking ? '✖' : '✔'} ${subject}: ${change}`);
  if (reportBreaks(changes, releases.length)) return 1;
  const unpublished = changes.length > 0 || !asyncApiIsCurrent();
  console.log(
    `contracts: compatible with ${String(releases.length)} released version(s) of the contract` +
      (unpublished
        ? '; run `npm run contracts:write` to publish the changes (docs/contracts, docs/asyncapi.json)'
        : ''),
  );
  return 0;
}

function write(folder: string): number {
  const releases = releasedVersions(folder);
  const changes = compareWithEvery(releases);
  if (reportBreaks(changes, releases.length)) {
    console.error('contracts: nothing written: a break is not released by rewriting the files.');
    return 1;
  }
  rmSync(join(folder, 'events'), { recursive: true, force: true }); // no file of a version the code no longer has
  for (const [path, schema] of contractSchemaFiles(ORDER_EVENTS)) writeJson(join(folder, path), schema);
  writeJson(join(ROOT, 'docs', 'asyncapi.json'), publishedAsyncApi());
  console.log(`contracts: wrote ${folder} and docs/asyncapi.json`);
  return 0;
}

/** This commit's schemas against each release; a change found against several is said once. */
function compareWithEvery(releases: readonly Map<string, JsonObject>[]): ContractChange[] {
  const current = contractSchemaFiles(ORDER_EVENTS);
  const seen = new Set<string>();
  const changes: ContractChange[] = [];
  for (const [index, release] of releases.entries()) {
    for (const change of compareContracts(release, current)) {
      const key = `${change.subject}: ${change.change}`;
      // A change against an older release that a later one already made is not news, unless it breaks.
      if (seen.has(key) || (!change.breaking && index > 0)) continue;
      seen.add(key);
      changes.push(change);
    }
  }
  return changes;
}

function reportBreaks(changes: readonly ContractChange[], releases: number): boolean {
  const breaking = changes.filter((change) => change.breaking);
  if (breaking.length === 0) return false;
  console.error(
    `\ncontracts: ${String(breaking.length)} breaking change(s) against ${String(releases)} released version(s). ` +
      'A released version may only gain optional fields; anything else is a new schema version with an upcaster ' +
      '(docs/how-to.md, "Change an event\'s shape").',
  );
  return true;
}

function asyncApiIsCurrent(): boolean {
  try {
    const committed: unknown = JSON.parse(readFileSync(join(ROOT, 'docs', 'asyncapi.json'), 'utf8'));
    return isDeepStrictEqual(committed, publishedAsyncApi());
  } catch {
    return false;
  }
}

/** The folder as it is, then as each commit of its git history left it (newest first), each a release. */
function releasedVersions(folder: string): Map<string, JsonObject>[] {
  const releases = [readSchemaFiles(folder)];
  for (const commit of historyOf(folder)) releases.push(schemaFilesAt(folder, commit));
  return releases.filter((release) => release.size > 0);
}

function historyOf(folder: string): string[] {
  try {
    return git(folder, ['log', '--format=%H', '--', '.']).split('\n').filter(Boolean);
  } catch {
    return []; // not in a git repository: the folder alone is the release
  }
}

function schemaFilesAt(folder: string, commit: string): Map<string, JsonObject> {
  const files = new Map<string, JsonObject>();
  const paths = git(folder, ['ls-tree', '-r', '--name-only', commit, '--', '.'])
    .split('\n')
    .filter((path) => path.endsWith('.schema.json'));
  for (const path of paths) {
    const text = git(folder, ['show', `${commit}:./${path}`]);
    try {
      files.set(path, JSON.parse(text) as JsonObject);
    } catch (error) {
      throw new Error(`${path} at ${commit.slice(0, 12)} is not JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  return files;
}

function git(folder: string, args: readonly string[]): string {
  return execFileSync('git', ['-C', folder, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
}

/** Every `*.schema.json` under `folder`, keyed by its path relative to it. */
function readSchemaFiles(folder: string): Map<string, JsonObject> {
  const files = new Map<string, JsonObject>();
  let entries: string[];
  try {
    entries = readdirSync(folder, { recursive: true, encoding: 'utf8' });
  } catch {
    return files;
  }
  for (const entry of entries.filter((name) => name.endsWith('.schema.json')).sort()) {
    const path = entry.split('\\').join('/');
    try {
      files.set(path, JSON.parse(readFileSync(join(folder, entry), 'utf8')) as JsonObject);
    } catch (error) {
      throw new Error(`${join(folder, entry)} is not JSON: ${(error as Error).message}`, { cause: error });
    }
  }
  return files;
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

process.exitCode = main();
