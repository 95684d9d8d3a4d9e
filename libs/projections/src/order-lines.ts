import type { EventEnvelope } from '@app/messaging';
import type { OrderLine } from '@app/orders-domain';

import { existing } from './kit/index.js';

/**
 * Total of lines in minor units, exact. The request's bounds let one line reach 10^18, and a
 * customer's or a bucket's sum of orders passes even Postgres bigint (2^63) after about a thousand
 * orders at the largest total, so amounts are BigInt here and numeric in SQL: a JavaScript number
 * rounds anything past 2^53 without a word.
 */
export function totalOf(lines: readonly OrderLine[]): bigint {
  return lines.reduce((sum, line) => sum + BigInt(line.quantity) * BigInt(line.unitPriceMinor), 0n);
}

/** The lines after an OrderLineAdded or OrderLineRemoved. */
export function withLine(lines: readonly OrderLine[], added: OrderLine): OrderLine[] {
  return [...lines, { sku: added.sku, quantity: added.quantity, unitPriceMinor: added.unitPriceMinor }];
}

export function withoutLine(lines: readonly OrderLine[], sku: string): OrderLine[] {
  return lines.filter((line) => line.sku !== sku);
}

/** A stream's row with its lines changed, for the handlers of OrderLineAdded and OrderLineRemoved. */
export function withChangedLines<Row extends { lines: OrderLine[] }>(
  row: Row | undefined,
  event: EventEnvelope,
  change: (lines: readonly OrderLine[]) => OrderLine[],
): Row {
  const current = existing(row, event);
  return { ...current, lines: change(current.lines) };
}
