/** Lambda's bounds for an SQS event source's `maxConcurrency`. */
export const MIN_MAX_CONCURRENCY = 2;
export const MAX_MAX_CONCURRENCY = 1000;
/** The largest SQS batch Lambda accepts without a batching window (a window would only add latency here). */
export const MAX_BATCH_SIZE_WITHOUT_WINDOW = 10;

export interface ConsumerConcurrencyOptions {
  /** kycert's rate limit for the API key, in requests per minute. */
  rateLimitPerMinute: number;
  /**
   * How long one record keeps its invocation busy: the POST plus the DynamoDB claim and result writes.
   * The rate rises as calls get faster, so the short end of the range is the safe value to pass.
   */
  secondsPerRecord: number;
}

export interface ConsumerConcurrency {
  /** Records per invocation, worked in parallel by the handler. */
  batchSize: number;
  /** Concurrent invocations the event source may run. */
  maxConcurrency: number;
  /** Records that may be in flight at once without exceeding the rate limit (may be fractional). */
  inFlightBudget: number;
  /** The worst case these settings allow: `maxConcurrency × batchSize` records every `secondsPerRecord`. */
  peakRequestsPerMinute: number;
}

/**
 * Sizes the SQS event source so that a full queue cannot push kycert past its rate limit by itself.
 *
 * Little's law: records in flight = rate × time each one takes. kycert allows L requests a minute, L/60 a
 * second; a record holds its invocation for t seconds; so at most L/60 × t records may be in flight. The
 * event source runs at most `maxConcurrency` invocations, each working its batch of B records in parallel
 * (Powertools' BatchProcessor), so `maxConcurrency × B` must stay within that budget:
 *
 * - B is half the budget (1..10), so that the smallest `maxConcurrency` Lambda allows, 2, still fits;
 * - `maxConcurrency` is the budget divided by B, clamped to Lambda's 2..1000.
 *
 * Lambda's floor of 2 means a budget under 2 (L × t < 120, e.g. the default 60/min at about 1 s a record)
 * can still have 2 records in flight, `peakRequestsPerMinute` above L. That costs no 429: every call waits
 * for its slot in the tenant's shared rate schedule (functions/kycert-worker/sharedFlowControl.ts), which is
 * the authority; this sizing only keeps a full queue from starting more invocations than the schedule has
 * slots for, each of them then waiting or booking a later slot through its visibility timeout. The
 * function's reserved concurrency is the event sources' sum (kycertQueue.ts).
 */
export function consumerConcurrencyFor(options: ConsumerConcurrencyOptions): ConsumerConcurrency {
  const { rateLimitPerMinute, secondsPerRecord } = options;
  if (!(rateLimitPerMinute > 0) || !(secondsPerRecord > 0)) {
    throw new RangeError(
      `rateLimitPerMinute (${rateLimitPerMinute}) and secondsPerRecord (${secondsPerRecord}) must be positive`,
    );
  }
  const inFlightBudget = (rateLimitPerMinute / 60) * secondsPerRecord;
  const batchSize = clamp(Math.floor(inFlightBudget / MIN_MAX_CONCURRENCY), 1, MAX_BATCH_SIZE_WITHOUT_WINDOW);
  const maxConcurrency = clamp(
    Math.floor(inFlightBudget / batchSize),
    MIN_MAX_CONCURRENCY,
    MAX_MAX_CONCURRENCY,
  );
  const peakRequestsPerMinute = (maxConcurrency * batchSize * 60) / secondsPerRecord;
  return { batchSize, maxConcurrency, inFlightBudget, peakRequestsPerMinute };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}
