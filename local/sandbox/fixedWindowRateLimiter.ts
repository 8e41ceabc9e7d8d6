export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests still allowed in this window after this one. */
  remaining: number;
  /** When the current window ends and the budget is whole again. */
  resetAtMs: number;
}

/**
 * One counter per bucket (an API key) per fixed window. Windows are aligned on multiples of `windowMs` since
 * the epoch, so `X-RateLimit-Reset` is the same for every request of a window and a test clock set to a
 * round minute starts a fresh one. A refused request does not count against the budget.
 */
export class FixedWindowRateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #buckets = new Map<string, { windowStartMs: number; used: number }>();

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  consume(bucket: string, nowMs: number): RateLimitDecision {
    const windowStartMs = nowMs - (((nowMs % this.#windowMs) + this.#windowMs) % this.#windowMs);
    const resetAtMs = windowStartMs + this.#windowMs;
    let counter = this.#buckets.get(bucket);
    if (counter === undefined || counter.windowStartMs !== windowStartMs) {
      counter = { windowStartMs, used: 0 };
      this.#buckets.set(bucket, counter);
    }
    if (counter.used >= this.#limit) {
      return { allowed: false, limit: this.#limit, remaining: 0, resetAtMs };
    }
    counter.used += 1;
    return { allowed: true, limit: this.#limit, remaining: this.#limit - counter.used, resetAtMs };
  }
}
