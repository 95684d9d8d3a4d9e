import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Parser } from '@asyncapi/parser';

import { publishedAsyncApi } from '@app/messaging';

/** dist-test/test/contracts → the repository, and the compiled gate beside this spec. */
const REPO = join(import.meta.dirname, '..', '..', '..');
const GATE = join(import.meta.dirname, '..', '..', 'scripts', 'contracts.js');
const run = promisify(execFile);

async function gate(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [GATE, ...args]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('the published event contract', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'contracts-'));
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('docs/asyncapi.json is what the code generates (run `npm run contracts:write` when it is not)', () => {
    const committed = readFileSync(join(REPO, 'docs', 'asyncapi.json'), 'utf8');
    assert.equal(committed, `${JSON.stringify(publishedAsyncApi(), null, 2)}\n`);
  });

  it('parses as AsyncAPI 3 without errors, every event type at every version a message', async () => {
    const text = readFileSync(join(REPO, 'docs', 'asyncapi.json'), 'utf8');
    const { document, diagnostics } = await new Parser().parse(text);
    const errors = diagnostics.filter((diagnostic) => (diagnostic.severity as number) === 0); // 0: error
    assert.deepEqual(
      errors.map((error) => `${error.path.join('.')}: ${error.message}`),
      [],
    );
    assert.ok(document);
    const names = document
      .messages()
      .all()
      .map((message) => message.id());
    for (const name of ['OrderPlacedV1', 'OrderPlacedV2', 'OrderShippedV1', 'DeadLetter'])
      assert.ok(names.includes(name), name);
    const headers = Object.keys(
      (JSON.parse(text) as { components: { schemas: { EventHeaders: { properties: object } } } }).components.schemas
        .EventHeaders.properties,
    );
    assert.deepEqual(headers, [
      'event-type',
      'schema-version',
      'event-id',
      'correlation-id',
      'causation-id',
      'traceparent',
    ]);
  });

  it('the gate passes on the committed contract', async () => {
    const { code, output } = await gate('check');
    assert.equal(code, 0, output);
    assert.match(output, /compatible with the \d+ released schemas/);
  });

  it('the gate fails on a released version edited in place, naming the event, the version and the change', async () => {
    const released = join(scratch, 'released');
    cpSync(join(REPO, 'docs', 'contracts'), released, { recursive: true });
    // As if v1 had been released with a field this commit's v1 lacks.
    const v1 = join(released, 'events', 'OrderPlaced', 'v1.schema.json');
    const schema = JSON.parse(readFileSync(v1, 'utf8')) as { properties: Record<string, unknown> };
    schema.properties.storeId = { type: 'string' };
    writeFileSync(v1, JSON.stringify(schema));
    const { code, output } = await gate('check', '--released', released);
    assert.equal(code, 1, output);
    assert.match(output, /✖ OrderPlaced v1: changed in place \(data\.storeId removed\)/);
  });

  it('the gate refuses an unknown command or flag with its usage', async () => {
    for (const args of [['verify'], ['check', '--strict'], []]) {
      const { code, output } = await gate(...args);
      assert.equal(code, 2, output);
      assert.match(output, /usage: npm run contracts:check/);
    }
  });
});
