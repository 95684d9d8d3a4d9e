import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Parser } from '@asyncapi/parser';

import { EVENT_HEADERS, encodeEnvelope, jsonSchemaValidator, publishedAsyncApi } from '@app/messaging';

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
    const committed: unknown = JSON.parse(readFileSync(join(REPO, 'docs', 'asyncapi.json'), 'utf8'));
    assert.deepEqual(committed, publishedAsyncApi());
  });

  it('every record carries exactly the published headers', () => {
    const validate = jsonSchemaValidator().compile(EVENT_HEADERS);
    const envelope = {
      eventId: 'e',
      type: 'OrderDelivered',
      schemaVersion: 1,
      streamId: 'o',
      version: 2,
      occurredAt: '2026-01-01T00:00:00.000Z',
      data: {},
    };
    for (const traceparent of [undefined, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']) {
      const { headers } = encodeEnvelope(envelope, { correlationId: 'c', causationId: 'c', traceparent });
      assert.ok(validate(headers), JSON.stringify(validate.errors));
      assert.deepEqual(
        Object.keys(headers).filter((name) => !Object.hasOwn(EVENT_HEADERS.properties, name)),
        [],
        'a header the contract does not publish',
      );
    }
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
    assert.match(output, /compatible with \d+ released version\(s\) of the contract\n$/, 'and nothing left to publish');
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

  it("the gate holds every version in the folder's git history: rewriting the files does not release a break", async () => {
    const repo = join(scratch, 'history');
    const released = join(repo, 'contracts');
    cpSync(join(REPO, 'docs', 'contracts'), released, { recursive: true });
    const shipped = join(released, 'events', 'OrderShipped', 'v1.schema.json');
    const today = readFileSync(shipped, 'utf8');
    // Released once with a field this commit's OrderShipped v1 no longer has...
    const schema = JSON.parse(today) as { properties: Record<string, unknown> };
    schema.properties.note = { type: 'string' };
    writeFileSync(shipped, JSON.stringify(schema));
    const inRepo = (args: string[]) => run('git', ['-C', repo, ...args]);
    await inRepo(['init', '-q']);
    await inRepo(['add', '.']);
    await inRepo(['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'release 1']);
    // ...then the file rewritten to match the code, as `contracts:write` would have.
    writeFileSync(shipped, today);
    const { code, output } = await gate('check', '--released', released);
    assert.equal(code, 1, output);
    assert.match(output, /✖ OrderShipped v1: data\.note removed/);
    const refused = await gate('write', '--released', released);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /nothing written/);
  });

  it('the gate names a released file that is not JSON, and checks nothing', async () => {
    const released = join(scratch, 'unreadable');
    cpSync(join(REPO, 'docs', 'contracts'), released, { recursive: true });
    writeFileSync(join(released, 'events', 'OrderShipped', 'v1.schema.json'), '{"type": ');
    const { code, output } = await gate('check', '--released', released);
    assert.equal(code, 2, output);
    assert.match(output, /OrderShipped\/v1\.schema\.json is not JSON/);
  });

  it('the gate refuses an unknown command or flag with its usage', async () => {
    for (const args of [['verify'], ['check', '--strict'], []]) {
      const { code, output } = await gate(...args);
      assert.equal(code, 2, output);
      assert.match(output, /usage: npm run contracts:check/);
    }
  });
});
