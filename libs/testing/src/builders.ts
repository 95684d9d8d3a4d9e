/** A valid POST /orders body; override what the test is about. */
export function placeOrderBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    customerId: 'customer-1',
    currency: 'EUR',
    lines: [{ sku: 'BOOK-1', quantity: 2, unitPriceMinor: 1250 }],
    ...overrides,
  };
}
