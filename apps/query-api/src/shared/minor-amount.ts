import type { SchemaObject } from '@nestjs/swagger';

/**
 * An amount of money in minor units as the query API writes it: a JSON number while it is a safe
 * integer, otherwise a string of its decimal digits. Sums of many orders pass 2^53, where a JSON
 * number is rounded by every JavaScript client (and many others) without a word; a string keeps
 * every digit, and small amounts stay the plain numbers clients already read.
 */
export type MinorAmount = number | string;

export function toMinorAmount(value: bigint | string): MinorAmount {
  const exact = BigInt(value);
  const asNumber = Number(exact);
  return Number.isSafeInteger(asNumber) ? asNumber : exact.toString();
}

/** What every amount field says in the OpenAPI document. */
export const MINOR_AMOUNT_SCHEMA = {
  description:
    'Exact amount in minor units: a JSON integer while it is at most 2^53 - 1 (9007199254740991), ' +
    'otherwise a string of decimal digits, so that no client rounds it.',
  oneOf: [
    { type: 'integer' as const, minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    { type: 'string' as const, pattern: '^[0-9]+$', example: '27670116110564327424' },
  ],
  example: 2500,
} satisfies SchemaObject;

/** Amounts per ISO 4217 currency, as an OpenAPI property. */
export const AMOUNTS_BY_CURRENCY_SCHEMA = {
  type: 'object' as const,
  additionalProperties: MINOR_AMOUNT_SCHEMA,
  example: { EUR: 2500, USD: '27670116110564327424' },
} satisfies SchemaObject;

/** An amount that may be negative: a net figure, such as a bucket's revenue less the returns booked in it. */
export const SIGNED_MINOR_AMOUNT_SCHEMA = {
  description:
    'Exact amount in minor units, negative when more was taken back than booked: a JSON integer while ' +
    'its magnitude is at most 2^53 - 1, otherwise a string of decimal digits.',
  oneOf: [
    { type: 'integer' as const, minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
    { type: 'string' as const, pattern: '^-?[0-9]+$', example: '-27670116110564327424' },
  ],
  example: 2500,
} satisfies SchemaObject;
