import { describe, expect, it } from 'vitest';
import { RateLimitGovernor } from '../functions/kycert-worker/rateLimitGovernor.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00Z');
const window = (limit: number, remaining: number, resetInSeconds: number, nowMs = NOW_MS) => ({
  limit,
  remaining,
  resetAtEpochSeconds: Math.floor(nowMs / 1000) + resetInSeconds,
});

describe('RateLimitGovernor', () => {
  it('lets every call go while nothing is known', () => {
    const governor = new RateLimitGovernor();
    expect(governor.reserve(NOW_MS)).toBe(0);
  });

  it('lets calls go freely above 15 % of the limit, counting calls in flight', () => {
    // Prepare: 100 per window, 20 left → 5 calls go before the threshold (15) is reached
    const governor = new RateLimitGovernor();
    governor.observe(window(100, 20, 30));
    // Act
    const waits = Array.from({ length: 5 }, () => governor.reserve(NOW_MS));
    // Assess
    expect(waits).toEqual([0, 0, 0, 0, 0]);
    expect(governor.reserve(NOW_MS)).toBe(0); // the first paced call goes at once…
    expect(governor.reserve(NOW_MS)).toBeGreaterThan(0); // …the next one waits for its slot
  });

  it('spreads the calls left evenly over the rest of the window', () => {
    // Prepare: 10 left of 100, window resets in 10 s → one call a second
    const governor = new RateLimitGovernor();
    governor.observe(window(100, 10, 10));
    // Act / Assess
    expect(governor.reserve(NOW_MS)).toBe(0);
    expect(governor.reserve(NOW_MS)).toBe(1000);
    expect(governor.reserve(NOW_MS + 400)).toBe(600);
    expect(governor.reserve(NOW_MS + 1000)).toBe(0);
  });

  it('waits for the reset when the budget is spent', () => {
    const governor = new RateLimitGovernor();
    governor.observe(window(100, 0, 7));
    expect(governor.reserve(NOW_MS)).toBe(7000);
  });

  it('forgets a window once it has reset', () => {
    const governor = new RateLimitGovernor();
    governor.observe(window(100, 0, 7));
    expect(governor.reserve(NOW_MS + 7000)).toBe(0);
  });

  it('keeps the most pessimistic view when answers arrive out of order', () => {
    const governor = new RateLimitGovernor();
    governor.observe(window(100, 0, 10));
    governor.observe(window(100, 50, 10)); // an older answer of the same window
    expect(governor.reserve(NOW_MS)).toBe(10_000);
    governor.observe(window(100, 99, 70)); // a new window
    expect(governor.reserve(NOW_MS)).toBe(0);
  });

  it('a zero threshold only waits when nothing is left', () => {
    const governor = new RateLimitGovernor(0);
    governor.observe(window(100, 1, 10));
    expect(governor.reserve(NOW_MS)).toBe(0);
    expect(governor.reserve(NOW_MS)).toBe(10_000);
  });

  it('ignores a reset further ahead than it believes (epoch milliseconds, a proxy’s daily quota)', () => {
    const governor = new RateLimitGovernor(0.15, 3600);
    governor.observe({ limit: 60, remaining: 0, resetAtEpochSeconds: NOW_MS + 30_000 }, NOW_MS);
    expect(governor.reserve(NOW_MS)).toBe(0);
  });

  it('is not poisoned by a far reset observed without a clock: a later, earlier reset starts a new window', () => {
    const governor = new RateLimitGovernor();
    governor.observe({ limit: 60, remaining: 0, resetAtEpochSeconds: NOW_MS + 30_000 });
    expect(governor.reserve(NOW_MS)).toBe(0); // a wait past the bound is no wait the governor asks for
    governor.observe(window(60, 59, 180, NOW_MS + 120_000));
    expect(governor.reserve(NOW_MS + 120_000)).toBe(0);
  });

  it('takes a refill within the same reset (more than half the limit back) as a new window', () => {
    const governor = new RateLimitGovernor();
    governor.observe(window(100, 0, 10));
    governor.observe(window(100, 95, 10));
    expect(governor.reserve(NOW_MS)).toBe(0);
  });

  it('never asks for a wait longer than the bound', () => {
    const governor = new RateLimitGovernor(0.15, 3600);
    governor.observe(window(60, 0, 3599), NOW_MS);
    expect(governor.reserve(NOW_MS)).toBeLessThanOrEqual(3_600_000);
  });
});
