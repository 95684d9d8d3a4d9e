import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { compareContracts } from './compatibility.js';
import { ORDER_EVENTS } from './order-events.contract.js';
import { contractSchemaFiles } from './published-contract.js';

type Json = Record<string, unknown>;

const REPO = join(import.meta.dirname, '..', '..', '..', '..', '..');
const current = contractSchemaFiles(ORDER_EVENTS);

/** docs/contracts as committed: the released contract. */
function committed(): Map<string, Json> {
  const folder = join(REPO, 'docs', 'contracts');
  const files = readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.schema.json'));
  return new Map(files.map((file) => [file, JSON.parse(readFileSync(join(folder, file), 'utf8')) as Json]));
}

/** This commit's schemas, with one of them changed by `edit`. */
function edited(path: string, edit: (schema: Json) => void): Map<string, Json> {
  const copy = new Map([...current].map(([key, schema]) => [key, structuredClone(schema)]));
  const schema = copy.get(path);
  assert.ok(schema, path);
  edit(schema);
  return copy;
}

const props = (schema: Json) => schema.properties as Record<string, Json>;
const breaking = (released: Map<string, Json>, now: Map<string, Json>) =>
  compareContracts(released, now)
    .filter((change) => change.breaking)
    .map(({ subject, change }) => `${subject}: ${change}`);

const SHIPPED = 'events/OrderShipped/v1.schema.json';
const PLACED_V1 = 'events/OrderPlaced/v1.schema.json';
const PLACED_V2 = 'events/OrderPlaced/v2.schema.json';

describe('the contract gate', () => {
  it('finds the committed contract current: nothing changed, nothing breaks', () => {
    assert.deepEqual(compareContracts(committed(), current), []);
  });

  it('accepts OrderPlaced v2 beside the released v1', () => {
    const released = new Map(committed());
    released.delete(PLACED_V2);
    assert.deepEqual(compareContracts(released, current), [
      { subject: 'OrderPlaced v2', change: 'new schema version', breaking: false },
    ]);
  });

  it('accepts an optional field added to the latest version', () => {
    const now = edited(SHIPPED, (schema) => (props(schema).note = { type: 'string' }));
    assert.deepEqual(compareContracts(current, now), [
      { subject: 'OrderShipped v1', change: 'data.note added (optional)', breaking: false },
    ]);
  });

  it('accepts a new event type', () => {
    const now = new Map(current).set('events/OrderRefunded/v1.schema.json', { type: 'object', properties: {} });
    assert.deepEqual(breaking(current, now), []);
  });

  it('rejects an edited v1, even an addition: a superseded version never changes', () => {
    const now = edited(PLACED_V1, (schema) => (props(schema).note = { type: 'string' }));
    assert.deepEqual(breaking(current, now), [
      'OrderPlaced v1: changed in place (data.note added (optional)): a superseded version never changes, its records are already written',
    ]);
  });

  it('rejects a removed field', () => {
    const now = edited(SHIPPED, (schema) => {
      delete props(schema).trackingNumber;
      schema.required = ['carrier'];
    });
    assert.deepEqual(breaking(current, now), ['OrderShipped v1: data.trackingNumber removed']);
  });

  it('rejects a renamed field', () => {
    const now = edited(SHIPPED, (schema) => {
      props(schema).shipper = props(schema).carrier as Json;
      delete props(schema).carrier;
      schema.required = ['shipper', 'trackingNumber'];
    });
    assert.deepEqual(breaking(current, now), ['OrderShipped v1: data.carrier renamed to shipper']);
  });

  it('rejects an optional field made required, and a required one added', () => {
    const withNote = edited(SHIPPED, (schema) => (props(schema).note = { type: 'string' }));
    const noteRequired = edited(SHIPPED, (schema) => {
      props(schema).note = { type: 'string' };
      schema.required = ['carrier', 'trackingNumber', 'note'];
    });
    assert.deepEqual(breaking(withNote, noteRequired), [
      'OrderShipped v1: data.note made required: records written before may lack it',
    ]);
    assert.deepEqual(breaking(current, noteRequired), [
      'OrderShipped v1: data.note added as required: records written before lack it',
    ]);
  });

  it('rejects a narrowed type, enum or bound, naming the event, version and field', () => {
    const number = edited(PLACED_V2, (schema) => {
      const line = (props(schema).lines as Json).items as Json;
      (line.properties as Record<string, Json>).quantity = { type: 'number', minimum: 1 };
    });
    assert.deepEqual(breaking(number, current), [
      'OrderPlaced v2: data.lines[].quantity narrowed: type "number" → "integer"',
    ]);
    const fewerChannels = edited(PLACED_V2, (schema) => {
      props(schema).channel = { ...props(schema).channel, enum: ['web', 'store'] };
    });
    assert.match(
      breaking(current, fewerChannels)[0] ?? '',
      /OrderPlaced v2: data.channel narrowed \(\["phone"\] no longer allowed\)/,
    );
    const longer = edited(SHIPPED, (schema) => (props(schema).carrier = { type: 'string', minLength: 3 }));
    assert.deepEqual(breaking(current, longer), ['OrderShipped v1: data.carrier narrowed: minLength 1 → 3']);
  });

  it('rejects a removed version or event type', () => {
    const withoutV1 = new Map(current);
    withoutV1.delete(PLACED_V1);
    assert.match(breaking(current, withoutV1)[0] ?? '', /^OrderPlaced v1: version removed/);
    const withoutShipped = new Map(current);
    withoutShipped.delete(SHIPPED);
    assert.match(breaking(current, withoutShipped)[0] ?? '', /^OrderShipped v1: event type removed/);
  });

  it('accepts an enum in another order: it admits the same values', () => {
    const reordered = edited(PLACED_V2, (schema) => {
      props(schema).channel = { ...props(schema).channel, enum: ['phone', 'web', 'store'] };
    });
    assert.deepEqual(compareContracts(current, reordered), []);
  });

  it('rejects a new enum value on a released version, saying why', () => {
    const more = edited(PLACED_V2, (schema) => {
      props(schema).channel = { ...props(schema).channel, enum: ['web', 'store', 'phone', 'app'] };
    });
    assert.match(
      breaking(current, more)[0] ?? '',
      /OrderPlaced v2: data.channel widened \(readers that handle every value/,
    );
  });

  it('rejects even a description changed on a superseded version, and accepts it on the latest', () => {
    const described = (path: string) =>
      edited(path, (schema) => (props(schema).customerId = { ...props(schema).customerId, description: 'who' }));
    assert.match(
      breaking(current, described(PLACED_V1))[0] ?? '',
      /^OrderPlaced v1: changed in place \(its descriptions\)/,
    );
    assert.deepEqual(compareContracts(current, described(PLACED_V2)), []);
  });

  it('holds the record headers like the envelope: one may be added, none removed', () => {
    const withoutCausation = edited('headers.schema.json', (schema) => {
      delete props(schema)['causation-id'];
      schema.required = ['event-type', 'schema-version', 'event-id', 'correlation-id'];
    });
    assert.deepEqual(breaking(current, withoutCausation), ['headers: headers.causation-id removed']);
    const withTenant = edited('headers.schema.json', (schema) => (props(schema).tenant = { type: 'string' }));
    assert.deepEqual(breaking(current, withTenant), []);
  });
});
