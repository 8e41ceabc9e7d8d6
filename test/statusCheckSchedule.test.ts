import { describe, expect, it } from 'vitest';
import {
  checkOffsetSeconds,
  DEFAULT_STATUS_CHECK_OPTIONS,
  nextStatusCheck,
  type StatusCheckOptions,
} from '../functions/kycert-worker/statusCheckSchedule.js';

const ACCEPTED_MS = Date.parse('2026-11-23T12:00:00.000Z');
const options: StatusCheckOptions = {
  ...DEFAULT_STATUS_CHECK_OPTIONS,
  maxIntervalSeconds: 60,
  overdueAfterSeconds: 3_600,
};

describe('checkOffsetSeconds: when each check is due, counted from acceptance', () => {
  it.each([
    // [checks done, estimate, offset of the next check]
    [0, 5, 5], // the first at the estimate
    [1, 5, 15], // then 10 s later (the interval doubles from the first delay)
    [2, 5, 35],
    [3, 5, 75], // 5 + 10 + 20 + 40
    [4, 5, 135], // the next interval, 80 s, is capped at 60 s
    [5, 5, 195],
    [0, null, 10], // no estimate: the default first delay
    [0, 0, 10],
    [0, 0.4, 1], // never sooner than a second
  ])('after %i checks with an estimate of %s s: %i s', (checksDone, estimate, expected) => {
    expect(checkOffsetSeconds(checksDone, estimate, options)).toBe(expected);
  });

  it('with webhooks on, polling is the safety net: the first check waits the grace on top of the estimate', () => {
    expect(checkOffsetSeconds(0, 5, { ...options, webhookGraceSeconds: 60 })).toBe(65);
    expect(checkOffsetSeconds(1, 5, { ...options, webhookGraceSeconds: 60 })).toBe(125);
  });
});

describe('nextStatusCheck', () => {
  const at = (
    overrides: Partial<{ nowMs: number; checksDone: number; estimatedSeconds: number | null }>,
  ) => ({
    acceptedAtMs: ACCEPTED_MS,
    nowMs: ACCEPTED_MS,
    checksDone: 0,
    estimatedSeconds: 5,
    ...overrides,
  });

  it.each([
    [
      'just accepted: the first check at the estimate',
      { nowMs: ACCEPTED_MS },
      { action: 'check', delaySeconds: 5 },
    ],
    [
      'come back early: the rest of the wait',
      { nowMs: ACCEPTED_MS + 3_000 },
      { action: 'check', delaySeconds: 2 },
    ],
    ['due: now', { nowMs: ACCEPTED_MS + 5_000 }, { action: 'check', delaySeconds: 0 }],
    ['late: now, not in the past', { nowMs: ACCEPTED_MS + 9_000 }, { action: 'check', delaySeconds: 0 }],
    [
      'one check in, still queued: 10 s later',
      { nowMs: ACCEPTED_MS + 5_000, checksDone: 1 },
      { action: 'check', delaySeconds: 10 },
    ],
  ] as const)('%s', (_, overrides, expected) => {
    expect(nextStatusCheck(at(overrides), options)).toEqual(expected);
  });

  it('a check due past the overdue time is moved to the overdue time itself', () => {
    // 70 checks in, the next would be due at 4035 s, after the hour: the last look comes exactly at the hour.
    expect(nextStatusCheck(at({ nowMs: ACCEPTED_MS + 3_590_000, checksDone: 70 }), options)).toEqual({
      action: 'check',
      delaySeconds: 10,
    });
  });

  it('at the overdue time and after: overdue, no more checks', () => {
    expect(nextStatusCheck(at({ nowMs: ACCEPTED_MS + 3_600_000, checksDone: 3 }), options)).toEqual({
      action: 'overdue',
    });
    expect(nextStatusCheck(at({ nowMs: ACCEPTED_MS + 9_000_000, checksDone: 3 }), options)).toEqual({
      action: 'overdue',
    });
  });

  it('with the defaults, the interval doubles from a 5 s estimate to the 15 min cap', () => {
    const offsets = Array.from({ length: 12 }, (_, n) =>
      checkOffsetSeconds(n, 5, DEFAULT_STATUS_CHECK_OPTIONS),
    );
    const intervals = offsets.slice(1).map((offset, i) => offset - (offsets[i] as number));
    expect(intervals).toEqual([10, 20, 40, 80, 160, 320, 640, 900, 900, 900, 900]);
  });
});
