/** The nearest-rank percentile: the smallest value with at least `p` percent of `values` at or below it; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export const round = (value: number, digits = 0): number => Number(value.toFixed(digits));
