/**
 * The event contract's published files, and the gate that keeps them compatible:
 *
 *   npm run contracts:check            this commit's schemas against the released ones in docs/contracts;
 *                                      exit 1 on a breaking change, naming the event, the version and the change
 *   npm run contracts:write            writes docs/contracts/** and docs/asyncapi.json from the code
 *
 * `--released <dir>` compares against (or writes to) another folder than docs/contracts.
 * The files in docs/contracts are the released contract: outside consumers generate their code from
 * them. See docs/how-to.md, "Change an event's shape".
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { ORDER_EVENTS, compareContracts, contractSchemaFiles, publishedAsyncApi } from '@app/messaging';

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
  return command === 'write' ? write(released) : check(released);
}

function check(folder: string): number {
  const released = readSchemaFiles(folder);
  if (released.size === 0) {
    console.error(
      `contracts: no released schemas in ${folder}; run \`npm run contracts:write\` to publish the first ones`,
    );
    return 1;
  }
  const changes = compareContracts(released, contractSchemaFiles(ORDER_EVENTS));
  for (const { subject, change, breaking } of changes) console.log(`${breaking ? '✖' : '✔'} ${subject}: ${change}`);
  const breaking = changes.filter((change) => change.breaking);
  if (breaking.length > 0) {
    console.error(
      `\ncontracts: ${String(breaking.length)} breaking change(s) against ${relative(process.cwd(), folder) || folder}. ` +
        'A released version may only gain optional fields; anything else is a new schema version with an upcaster ' +
        '(docs/how-to.md, "Change an event\'s shape").',
    );
    return 1;
  }
  const unpublished = changes.length > 0 || !asyncApiIsCurrent();
  console.log(
    `contracts: compatible with the ${String(released.size)} released schemas` +
      (unpublished
        ? '; run `npm run contracts:write` to publish the changes (docs/contracts, docs/asyncapi.json)'
        : ''),
  );
  return 0;
}

function write(folder: string): number {
  for (const [path, schema] of contractSchemaFiles(ORDER_EVENTS)) writeJson(join(folder, path), schema);
  writeJson(join(ROOT, 'docs', 'asyncapi.json'), publishedAsyncApi());
  console.log(`contracts: wrote ${folder} and docs/asyncapi.json`);
  return 0;
}

function asyncApiIsCurrent(): boolean {
  try {
    const committed = readFileSync(join(ROOT, 'docs', 'asyncapi.json'), 'utf8');
    return committed === `${JSON.stringify(publishedAsyncApi(), null, 2)}\n`;
  } catch {
    return false;
  }
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
