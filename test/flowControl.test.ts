import { describe, expect, it } from 'vitest';
import {
  type BreakerView,
  bookedSlotUsable,
  type FlowControlOptions,
  nextProbeBackoffMs,
  pauseDecision,
  slotDecision,
  slotIntervalMs,
} from '../functions/kycert-worker/flowControl.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const HOUR_MS = 3_600_000;
const options: FlowControlOptions = {
  maxInFunctionWaitMs: 1_000,
  deferLeadMs: 1_000,
  maxLateMs: 500,
  pauseBudgetMs: 24 * HOUR_MS,
  probeBaseMs: 30_000,
  probeMaxMs: 300_000,
};
const open = (overrides: Partial<Extract<BreakerView, { state: 'open' }>> = {}): BreakerView => ({
  state: 'open',
  code: 'http_402',
  openedAtMs: NOW_MS - 60_000,
  nextProbeAtMs: NOW_MS + 20_000,
  backoffMs: 30_000,
  probeUntilMs: undefined,
  ...overrides,
});
const at = (overrides: Partial<{ messageSentAtMs: number; lastReceive: boolean; random: number }> = {}) => ({
  nowMs: NOW_MS,
  messageSentAtMs: NOW_MS - 120_000,
  lastReceive: false,
  random: 0,
  ...overrides,
});

describe('slotDecision: wait here, or come back for the slot', () => {
  it.each([
    // [slot in ms from now, booked earlier, expected]
    [0, false, { action: 'send', waitMs: 0 }],
    [-200, false, { action: 'send', waitMs: 0 }], // already due
    [300, false, { action: 'send', waitMs: 300 }],
    [1_000, false, { action: 'send', waitMs: 1_000 }], // the threshold itself: waited for
    [1_001, false, { action: 'book', delaySeconds: 1 }], // back 1 s later, a second early (lead)
    [4_700, false, { action: 'book', delaySeconds: 3 }], // floor((4.7 − 1) s)
    [60_000, false, { action: 'book', delaySeconds: 59 }],
    // A booked slot, come back for: the lead and the visibility's whole seconds are waited out here.
    [2_900, true, { action: 'send', waitMs: 2_900 }],
    [3_001, true, { action: 'book', delaySeconds: 2 }],
  ] as const)('a slot %i ms away (booked: %s) → %o', (inMs, booked, expected) => {
    expect(
      slotDecision({ atMs: NOW_MS + inMs, booked }, { nowMs: NOW_MS, lastReceive: false }, options),
    ).toEqual(expected);
  });

  // A visibility is whole seconds, one at least. A booked message has to come back by its slot: one that comes back
  // more than maxLateMs after it gives it up (bookedSlotUsable), so the slot goes unused and the message queues again.
  // Under the default threshold (1000 ms) no slot nearer than a second is booked; the threshold can be set lower
  // (0 and 300 ms were measured in BENCHMARKS.md P3, which saw fewer of the limit's calls used at both).
  it.each([0, 300])(
    'with a threshold of %i ms, a booked message never comes back after its slot (with the lead of 250 ms)',
    (maxInFunctionWaitMs) => {
      const low = { ...options, maxInFunctionWaitMs, deferLeadMs: 250 };
      const late: string[] = [];
      for (let inMs = 1; inMs <= 3_000; inMs += 1) {
        const decision = slotDecision(
          { atMs: NOW_MS + inMs, booked: false },
          { nowMs: NOW_MS, lastReceive: false },
          low,
        );
        if (decision.action === 'book' && decision.delaySeconds * 1000 > inMs) {
          late.push(`${inMs} ms away: back ${decision.delaySeconds * 1000 - inMs} ms after it`);
        }
      }
      expect(late.filter((_, i) => i % 100 === 0)).toEqual([]);
    },
  );

  it('on the last receive before the redrive policy, never deferred: a short wait, then the POST', () => {
    expect(
      slotDecision({ atMs: NOW_MS + 60_000, booked: false }, { nowMs: NOW_MS, lastReceive: true }, options),
    ).toEqual({
      action: 'send',
      waitMs: 1_000,
    });
  });

  it('a booked slot is used up to half a second late, then given up for a new one', () => {
    expect(bookedSlotUsable(NOW_MS - 500, NOW_MS, options)).toBe(true);
    expect(bookedSlotUsable(NOW_MS - 501, NOW_MS, options)).toBe(false);
    expect(bookedSlotUsable(NOW_MS + 10_000, NOW_MS, options)).toBe(true);
  });
});

describe('pauseDecision: the breaker, for one delivery', () => {
  it('a closed breaker lets it go', () => {
    expect(pauseDecision({ state: 'closed' }, at(), options)).toEqual({ action: 'go' });
  });

  it('an open breaker before its probe time: back after the probe, spread over half a backoff', () => {
    expect(pauseDecision(open(), at({ random: 0 }), options)).toEqual({ action: 'pause', delaySeconds: 20 });
    expect(pauseDecision(open(), at({ random: 0.999 }), options)).toEqual({
      action: 'pause',
      delaySeconds: 35,
    });
  });

  it('at its probe time, with nobody probing: this delivery may probe', () => {
    expect(pauseDecision(open({ nextProbeAtMs: NOW_MS }), at(), options)).toEqual({ action: 'probe' });
  });

  it('at its probe time, while another delivery probes: pause', () => {
    expect(
      pauseDecision(open({ nextProbeAtMs: NOW_MS - 1, probeUntilMs: NOW_MS + 30_000 }), at(), options),
    ).toEqual({ action: 'pause', delaySeconds: 1 });
  });

  it('a probe whose hold has ended (its invocation died) frees the probe', () => {
    expect(
      pauseDecision(open({ nextProbeAtMs: NOW_MS - 1, probeUntilMs: NOW_MS - 1 }), at(), options),
    ).toEqual({
      action: 'probe',
    });
  });

  it.each([
    ['sent 25 h ago, the breaker open for 25 h', NOW_MS - 25 * HOUR_MS, NOW_MS - 25 * HOUR_MS, true],
    ['sent 25 h ago, but the breaker open for only a minute', NOW_MS - 25 * HOUR_MS, NOW_MS - 60_000, false],
    ['sent a minute ago, the breaker open for 25 h', NOW_MS - 60_000, NOW_MS - 25 * HOUR_MS, false],
  ])('paused longer than the budget → dead-lettered (%s: %s)', (_, messageSentAtMs, openedAtMs, givesUp) => {
    const decision = pauseDecision(open({ openedAtMs }), at({ messageSentAtMs }), options);
    expect(decision.action === 'deadLetter').toBe(givesUp);
    if (givesUp) expect(decision).toMatchObject({ code: 'http_402' });
  });

  it('on the last receive, dead-lettered with its reason rather than left to the redrive policy', () => {
    expect(pauseDecision(open(), at({ lastReceive: true }), options)).toMatchObject({
      action: 'deadLetter',
      code: 'http_402',
    });
  });
});

describe('nextProbeBackoffMs', () => {
  it.each([
    [{ state: 'closed' } as BreakerView, 30_000], // a breaker opening anew starts at the base
    [open({ backoffMs: 30_000 }), 60_000],
    [open({ backoffMs: 200_000 }), 300_000], // capped
    [open({ backoffMs: 300_000 }), 300_000],
  ])('after %o → %i ms', (breaker, expected) => {
    expect(nextProbeBackoffMs(breaker, options)).toBe(expected);
  });
});

describe('slotIntervalMs: any window of kycert’s holds at most the calls it allows', () => {
  it.each([
    // [limit per window, window ms, headroom, expected spacing]
    [30, 3_000, 0.03, 3_000 / 29], // 29.1 → 29, and at least one short of 30
    [100, 10_000, 0.03, 10_000 / 97],
    [60, 60_000, 0.03, 60_000 / 58],
    [8, 1_000, 0.03, 1_000 / 7],
    [1, 60_000, 0.03, 60_000],
  ])('%i per %i ms, headroom %f → %f ms', (limit, windowMs, headroom, expected) => {
    expect(slotIntervalMs(limit, windowMs, headroom)).toBeCloseTo(expected, 9);
  });

  it('evenly spaced calls never put more than the limit in any window, whatever its alignment', () => {
    for (const [limit, windowMs] of [
      [30, 3_000],
      [100, 10_000],
      [7, 1_000],
    ] as const) {
      const spacingMs = slotIntervalMs(limit, windowMs, 0.03);
      const calls = Array.from({ length: 10 * limit }, (_, i) => i * spacingMs);
      for (let offsetMs = 0; offsetMs < windowMs; offsetMs += windowMs / 37) {
        const inWindow = calls.filter((t) => t >= offsetMs && t < offsetMs + windowMs).length;
        expect(inWindow).toBeLessThanOrEqual(limit);
      }
    }
  });
});
