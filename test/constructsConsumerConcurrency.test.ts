import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consumerConcurrencyFor,
  MAX_BATCH_SIZE_WITHOUT_WINDOW,
  MAX_MAX_CONCURRENCY,
  MIN_MAX_CONCURRENCY,
} from '../lib/consumerConcurrency.js';

describe('consumerConcurrencyFor', () => {
  it.each([
    // rate limit/min, s/record, batch, maxConcurrency, peak requests/min
    [60, 1, 1, 2, 120], // under Lambda's floor: the peak exceeds the limit, the worker's pacing covers it
    [60, 2, 1, 2, 60],
    [120, 1, 1, 2, 120],
    [600, 1, 5, 2, 600],
    [1_200, 1, 10, 2, 1_200],
    [1_500, 1, 10, 2, 1_200], // budget 25: two batches of 10 fit, a third would not
    [6_000, 1, 10, 10, 6_000],
    [600, 0.5, 2, 2, 480], // budget 5: batches of 2, two of them
    [60_000_000, 1, 10, 1_000, 600_000], // Lambda's ceiling
  ])(
    '%i/min at %d s a record → batches of %i, %i concurrent (peak %i/min)',
    (rateLimitPerMinute, secondsPerRecord, batchSize, maxConcurrency, peak) => {
      expect(consumerConcurrencyFor({ rateLimitPerMinute, secondsPerRecord })).toEqual({
        batchSize,
        maxConcurrency,
        inFlightBudget: (rateLimitPerMinute / 60) * secondsPerRecord,
        peakRequestsPerMinute: peak,
      });
    },
  );

  it('stays within Lambda’s bounds, and within the rate limit whenever two records in flight fit it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.double({ min: 0.05, max: 60, noNaN: true }),
        (rateLimitPerMinute, secondsPerRecord) => {
          const result = consumerConcurrencyFor({ rateLimitPerMinute, secondsPerRecord });
          expect(result.batchSize).toBeGreaterThanOrEqual(1);
          expect(result.batchSize).toBeLessThanOrEqual(MAX_BATCH_SIZE_WITHOUT_WINDOW);
          expect(result.maxConcurrency).toBeGreaterThanOrEqual(MIN_MAX_CONCURRENCY);
          expect(result.maxConcurrency).toBeLessThanOrEqual(MAX_MAX_CONCURRENCY);
          if (result.inFlightBudget >= MIN_MAX_CONCURRENCY) {
            expect(result.maxConcurrency * result.batchSize).toBeLessThanOrEqual(result.inFlightBudget);
            expect(result.peakRequestsPerMinute).toBeLessThanOrEqual(rateLimitPerMinute * (1 + 1e-9));
          }
        },
      ),
    );
  });

  it.each([
    [0, 1],
    [60, 0],
    [Number.NaN, 1],
  ])('refuses rate limit %d at %d s a record', (rateLimitPerMinute, secondsPerRecord) => {
    expect(() => consumerConcurrencyFor({ rateLimitPerMinute, secondsPerRecord })).toThrow(
      /rateLimitPerMinute \(.*\) and secondsPerRecord \(.*\) must be positive/,
    );
  });
});
