import type { RateLimitHeaders } from './kycertClient.js';

/**
 * Slows down before kycert's rate limit instead of running into it. Every kycert response carries
 * `X-RateLimit-Limit/Remaining/Reset` for the whole tenant, so each execution environment sees the same
 * budget: above the threshold calls go freely; under it (15 % of the limit by default) the calls left are
 * spread evenly over the rest of the window; at zero everything waits for the reset.
 *
 * One instance per execution environment (per process locally), shared by concurrent invocations there.
 * It never sleeps: it answers how long to wait, and the caller defers the message through its visibility.
 */
export class RateLimitGovernor {
  readonly #thresholdRatio: number;
  #limit = 0;
  #remaining = 0;
  #resetAtMs = 0;
  #nextSlotAtMs = 0;

  /** @param thresholdRatio share of the limit under which calls are paced. @default 0.15 */
  constructor(thresholdRatio = 0.15) {
    this.#thresholdRatio = thresholdRatio;
  }

  observe(headers: RateLimitHeaders): void {
    const resetAtMs = headers.resetAtEpochSeconds * 1000;
    if (resetAtMs > this.#resetAtMs) {
      this.#limit = headers.limit;
      this.#remaining = headers.remaining;
      this.#resetAtMs = resetAtMs;
      this.#nextSlotAtMs = 0;
    } else if (resetAtMs === this.#resetAtMs) {
      // Answers to concurrent calls arrive out of order: keep the most pessimistic view of this window.
      this.#remaining = Math.min(this.#remaining, headers.remaining);
    }
  }

  /**
   * Reserves a call at `nowMs`. Returns 0 when it may be sent now (the budget is decremented, so calls in
   * flight count before their answers arrive), or the milliseconds to wait before asking again.
   */
  reserve(nowMs: number): number {
    if (this.#limit === 0 || nowMs >= this.#resetAtMs) return 0; // nothing known about the current window
    if (this.#remaining > this.#limit * this.#thresholdRatio) {
      this.#remaining -= 1;
      return 0;
    }
    if (this.#remaining <= 0) return this.#resetAtMs - nowMs;
    if (nowMs < this.#nextSlotAtMs) return this.#nextSlotAtMs - nowMs;
    this.#nextSlotAtMs = nowMs + (this.#resetAtMs - nowMs) / this.#remaining;
    this.#remaining -= 1;
    return 0;
  }
}
