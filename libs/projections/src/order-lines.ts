import type { OrderLine } from '@app/orders-domain';

/** Total of lines in minor units. */
export function totalOf(lines: readonly OrderLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity * line.unitPriceMinor, 0);
}

/** The lines after an OrderLineAdded or OrderLineRemoved. */
export function withLine(lines: readonly OrderLine[], added: OrderLine): OrderLine[] {
  return [...lines, { sku: added.sku, quantity: added.quantity, unitPriceMinor: added.unitPriceMinor }];
}

export function withoutLine(lines: readonly OrderLine[], sku: string): OrderLine[] {
  return lines.filter((line) => line.sku !== sku);
}
