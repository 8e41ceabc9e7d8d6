import { DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS } from './constants.js';
import type { RateLimitHeaders } from './kycertClient.js';

/**
 * Slows down before kycert's rate limit instead of running into it. Every kycert response carries
 * `X-RateLimit-Limit/Remaining/Reset` for the whole tenant, so each execution environment sees the same
 * budget: above the threshold calls go freely; under it (15 % of the limit by default) the calls left are
 * spread evenly over the rest of the window; at zero everything waits for the reset.
 *
 * One instance per execution environment (per process locally), shared by concurrent invocations there.
 * It never sleeps: it answers how long to wait, and the caller defers the message through its visibility.
 *
 * Headers are checked before they are believed: a reset further ahead than `maxResetSeconds` is ignored, and a
 * reset that moves (back too), or a Remaining that rises by more than half the limit, starts a new window. One bad answer (a
 * reset in milliseconds, a proxy's daily quota) then cannot hold every message back for the life of the
 * environment.
 */
export class RateLimitGovernor {
  readonly #thresholdRatio: number;
  readonly #maxResetMs: number;
  #limit = 0;
  #remaining = 0;
  #resetAtMs = 0;
  #nextSlotAtMs = 0;

  /**
   * @param thresholdRatio share of the limit under which calls are paced. @default 0.15
   * @param maxResetSeconds the furthest ahead a believable reset is. @default 3600 s
   */
  constructor(thresholdRatio = 0.15, maxResetSeconds = DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS) {
    this.#thresholdRatio = thresholdRatio;
    this.#maxResetMs = maxResetSeconds * 1000;
  }

  /** The limit kycert's last believed answer gave (per window), or 0 before any. */
  limit(): number {
    return this.#limit;
  }

  /** @param nowMs when the answer arrived; without it, a reset cannot be checked against the clock. */
  observe(headers: RateLimitHeaders, nowMs?: number): void {
    const resetAtMs = headers.resetAtEpochSeconds * 1000;
    if (nowMs !== undefined && resetAtMs - nowMs > this.#maxResetMs) return; // not believable: ignored
    const newWindow =
      resetAtMs !== this.#resetAtMs ||
      // Same reset, yet more than half the limit back: a refill, not an answer arriving late (answers to
      // concurrent calls differ by the few calls in flight).
      headers.remaining - this.#remaining > headers.limit / 2;
    if (newWindow) {
      this.#limit = headers.limit;
      this.#remaining = headers.remaining;
      this.#resetAtMs = resetAtMs;
      this.#nextSlotAtMs = 0;
    } else {
      // Answers to concurrent calls arrive out of order: keep the most pessimistic view of this window.
      this.#remaining = Math.min(this.#remaining, headers.remaining);
    }
  }

  /**
   * Reserves a call at `nowMs`. Returns 0 when it may be sent now (the budget is decremented, so calls in
   * flight count before their answers arrive), or the milliseconds to wait before asking again, never more
   * than `maxResetSeconds`.
   */
  reserve(nowMs: number): number {
    if (this.#limit === 0 || nowMs >= this.#resetAtMs) return 0; // nothing known about the current window
    if (this.#resetAtMs - nowMs > this.#maxResetMs) return 0; // a window observed without a clock check
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
