/** Small statistics for the benchmarks: every figure they print is a median of repeated measurements. */

/** The middle value (the mean of the two middle values for an even count). Throws on an empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of no values');
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Drops the first `warmUp` values (JIT, connection set-up, first SDK call), keeping at least one. */
export function withoutWarmUp<T>(values: readonly T[], warmUp: number): T[] {
  if (values.length <= warmUp)
    throw new RangeError(`${values.length} values leave nothing after ${warmUp} warm-up`);
  return values.slice(warmUp);
}

/** `a / b`, or NaN when `b` is 0: a ratio that cannot be formed is printed as such, never as Infinity. */
export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : a / b;
}
