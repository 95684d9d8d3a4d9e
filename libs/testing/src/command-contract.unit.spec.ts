import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  COMMAND_CATALOGUE,
  COMMAND_TYPES,
  commandPath,
  contractViolation,
  expectedCommandAnswer,
  type CommandRequest,
} from './command-contract.js';

const JSON_TYPE = { 'Content-Type': 'application/json' };
const ORDER_ID = '6bce3adc-99e4-4ffb-b993-40a367bc29b6';
const LINE = { sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 };

function place(body: unknown, headers: Record<string, string> = JSON_TYPE): CommandRequest {
  return { method: 'POST', path: '/orders', headers, body: JSON.stringify(body) };
}

function order(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { customerId: 'customer-1', currency: 'EUR', lines: [LINE], ...overrides };
}

/** The statuses allowed and the fields of the definite problems. */
function verdict(request: CommandRequest): { invalid: boolean; statuses: readonly number[]; fields: string[] } {
  const answer = expectedCommandAnswer(request);
  const fields = answer.problems
    .filter((problem) => problem.definite && problem.field !== undefined)
    .map((problem) => problem.field ?? '');
  return { invalid: answer.invalid, statuses: answer.statuses, fields };
}

const fields = (...names: string[]): string =>
  JSON.stringify({ statusCode: 400, fields: names.map((field) => ({ field, errors: ['bad'] })) });

describe('expectedCommandAnswer', () => {
  it('allows a valid placement 201, and 422 once it carries an Idempotency-Key', () => {
    assert.deepEqual(verdict(place(order())), { invalid: false, statuses: [201], fields: [] });
    assert.deepEqual(verdict(place(order(), { ...JSON_TYPE, 'Idempotency-Key': 'key-1' })).statuses, [201, 422]);
  });

  it('fixes 400 naming the field for a string quantity, a non-ISO currency and an unknown key', () => {
    assert.deepEqual(verdict(place(order({ lines: [{ ...LINE, quantity: '5' }] }))), {
      invalid: true,
      statuses: [400],
      fields: ['lines.0.quantity'],
    });
    assert.deepEqual(verdict(place(order({ currency: 'ZZZ' }))).fields, ['currency']);
    assert.deepEqual(verdict(place(order({ currency: 'eur' }))).fields, ['currency']);
    assert.deepEqual(verdict(place(order({ discount: 5 }))), { invalid: true, statuses: [400], fields: ['discount'] });
    assert.deepEqual(verdict(place(order({ lines: [{ ...LINE, colour: 'red' }] }))).fields, ['lines.0.colour']);
  });

  it('names every missing field and a price that is not an integer', () => {
    assert.deepEqual(verdict(place({})).fields, ['customerId', 'currency', 'lines']);
    assert.deepEqual(verdict(place(order({ lines: [{ ...LINE, unitPriceMinor: 12.5 }] }))).fields, [
      'lines.0.unitPriceMinor',
    ]);
  });

  it('leaves 400 or 409 open for no lines, over 100 lines and a repeated sku, and fixes 409 for a total over 2^53 − 1', () => {
    assert.deepEqual(verdict(place(order({ lines: [] }))).statuses, [400, 409]);
    assert.deepEqual(
      verdict(place(order({ lines: Array.from({ length: 101 }, (_, index) => ({ ...LINE, sku: `S-${index}` })) })))
        .statuses,
      [400, 409],
    );
    assert.deepEqual(verdict(place(order({ lines: [LINE, LINE] }))).statuses, [400, 409]);
    const huge = expectedCommandAnswer(
      place(order({ lines: [{ sku: 'A', quantity: 1_000_000, unitPriceMinor: 1_000_000_000_000 }] })),
    );
    assert.ok(huge.invalid);
    assert.deepEqual(
      huge.problems.filter((problem) => problem.definite).map((problem) => problem.code),
      ['TOTAL_TOO_LARGE'],
    );
  });

  it('fixes 415 for a body not declared JSON, 413 over the limit, 431 for headers over 16 kB', () => {
    assert.deepEqual(verdict(place(order(), { 'Content-Type': 'text/plain' })).statuses, [415]);
    assert.deepEqual(
      verdict({ method: 'POST', path: '/orders', headers: JSON_TYPE, body: 'x'.repeat(70_000) }).statuses,
      [413],
    );
    assert.deepEqual(verdict(place(order(), { ...JSON_TYPE, 'X-Huge': 'h'.repeat(20_000) })).statuses, [431]);
  });

  it('fixes 400 for malformed JSON, a body that is not an object, and a __proto__ key anywhere', () => {
    assert.deepEqual(
      verdict({ method: 'POST', path: '/orders', headers: JSON_TYPE, body: '{"a":1,}' }).statuses,
      [400],
    );
    assert.deepEqual(verdict({ method: 'POST', path: '/orders', headers: JSON_TYPE, body: '[1]' }).statuses, [400]);
    assert.deepEqual(
      verdict({ method: 'POST', path: '/orders', headers: JSON_TYPE, body: '{"lines":[{"__proto__":{"x":1}}]}' })
        .statuses,
      [400],
    );
  });

  it('answers 404 for a path no command has and 404 or 405 for a command path with another method', () => {
    assert.deepEqual(verdict({ method: 'POST', path: '/nowhere' }).statuses, [404]);
    assert.deepEqual(verdict({ method: 'GET', path: '/orders' }).statuses, [404, 405]);
    assert.deepEqual(verdict({ method: 'POST', path: `/orders/${ORDER_ID}/lines/BOOK-1` }).statuses, [404, 405]);
  });

  it('lets the order decide a valid command: 200, 404, 409, and 412 when pinned by If-Match', () => {
    const confirm = {
      method: 'POST',
      path: `/orders/${ORDER_ID}/confirm`,
      headers: JSON_TYPE,
      body: '{"paymentReference":"pay-1"}',
    };
    assert.deepEqual(verdict(confirm).statuses, [200, 404, 409]);
    assert.deepEqual(
      verdict({ ...confirm, headers: { ...JSON_TYPE, 'If-Match': '"3"' } }).statuses,
      [200, 404, 409, 412],
    );
    assert.deepEqual(verdict({ method: 'POST', path: `/orders/${ORDER_ID}/deliver` }).statuses, [200, 404, 409]);
  });

  it('leaves 400 or 404 open for an order id that is not a UUID, and fixes 400 for a bad Idempotency-Key', () => {
    const answer = expectedCommandAnswer({ method: 'POST', path: '/orders/not-a-uuid/deliver' });
    assert.deepEqual([answer.invalid, answer.statuses], [false, [200, 400, 404, 409]]);
    assert.deepEqual(
      verdict({ method: 'POST', path: `/orders/${ORDER_ID}/deliver`, headers: { 'Idempotency-Key': 'two words' } }),
      { invalid: true, statuses: [400], fields: ['Idempotency-Key'] },
    );
  });

  it('refuses fields in the body of a command that takes none', () => {
    assert.deepEqual(
      verdict({ method: 'POST', path: `/orders/${ORDER_ID}/deliver`, headers: JSON_TYPE, body: '{"when":"now"}' })
        .fields,
      ['when'],
    );
    assert.equal(
      verdict({ method: 'POST', path: `/orders/${ORDER_ID}/deliver`, headers: JSON_TYPE, body: '{}' }).invalid,
      false,
    );
  });

  it('leaves a value past the plain floor open: a long sku may be stored or refused', () => {
    const answer = expectedCommandAnswer(place(order({ lines: [{ ...LINE, sku: 'A'.repeat(600) }] })));
    assert.deepEqual([answer.invalid, answer.statuses], [false, [201, 400]]);
  });
});

describe('contractViolation', () => {
  const stringQuantity = expectedCommandAnswer(place(order({ customerId: 7, lines: [{ ...LINE, quantity: '5' }] })));

  it('refuses a success or another status for a known-invalid request', () => {
    assert.match(contractViolation(stringQuantity, 201, '{}') ?? '', /^201 where the contract allows 400/);
    assert.match(contractViolation(stringQuantity, 409, '{}') ?? '', /^409 where/);
  });

  it('holds a 400 to naming every bad body field and no good one', () => {
    assert.equal(contractViolation(stringQuantity, 400, fields('customerId', 'lines.0.quantity')), undefined);
    assert.match(contractViolation(stringQuantity, 400, fields('lines.0.quantity')) ?? '', /but not customerId/);
    assert.match(
      contractViolation(stringQuantity, 400, fields('customerId', 'lines.0.quantity', 'currency')) ?? '',
      /names currency/,
    );
    assert.match(contractViolation(stringQuantity, 400, '{"statusCode":400}') ?? '', /without the fields/);
  });

  it("allows a 400 without fields where the body could not be read, and holds a new order's 409 to its code", () => {
    const malformed = expectedCommandAnswer({ method: 'POST', path: '/orders', headers: JSON_TYPE, body: '{' });
    assert.equal(contractViolation(malformed, 400, '{"statusCode":400}'), undefined);
    const duplicate = expectedCommandAnswer(place(order({ lines: [LINE, LINE] })));
    assert.equal(contractViolation(duplicate, 409, '{"code":"DUPLICATE_SKU"}'), undefined);
    assert.match(contractViolation(duplicate, 409, '{"code":"TOTAL_TOO_LARGE"}') ?? '', /DUPLICATE_SKU/);
  });
});

describe('COMMAND_CATALOGUE', () => {
  it("holds each command's example to its own route: a valid request the order decides", () => {
    for (const type of COMMAND_TYPES) {
      const { method, example } = COMMAND_CATALOGUE[type];
      const path = commandPath(type, { id: ORDER_ID, sku: 'FUZZ-1' });
      const answer = expectedCommandAnswer({ method, path, headers: JSON_TYPE, body: JSON.stringify(example) });
      assert.equal(answer.route, `${method} /${COMMAND_CATALOGUE[type].pattern.join('/')}`, type);
      assert.equal(answer.invalid, false, `${type}: ${answer.problems.map((problem) => problem.reason).join('; ')}`);
    }
  });

  it('fills in the path parameters it is given', () => {
    assert.equal(commandPath('PlaceOrder'), '/orders');
    assert.equal(commandPath('ConfirmOrder', { id: ORDER_ID }), `/orders/${ORDER_ID}/confirm`);
    assert.equal(commandPath('RemoveOrderLine', { id: ORDER_ID, sku: 'A%2FB' }), `/orders/${ORDER_ID}/lines/A%2FB`);
  });
});
