import { describe, expect, it } from 'vitest';
import type { KycertResult } from '../functions/kycert-worker/kycertClient.js';
import {
  type AttemptContext,
  backoffSeconds,
  beforeAttempt,
  decide,
  isLastReceive,
  type RetryPolicyOptions,
} from '../functions/kycert-worker/retryPolicy.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00Z');
const HOUR_MS = 3_600_000;
const options: RetryPolicyOptions = {
  maxAttempts: 8,
  maxReceiveCount: 11,
  backoffBaseSeconds: 1,
  backoffMaxSeconds: 900,
  idempotencyWindowSeconds: 22 * 3600,
};
const context = (overrides: Partial<AttemptContext> = {}): AttemptContext => ({
  attempt: 1,
  receiveCount: 1,
  firstAttemptAtMs: NOW_MS,
  nowMs: NOW_MS,
  random: 0,
  ...overrides,
});
const response = (
  httpStatus: number,
  extra: Partial<Extract<KycertResult, { kind: 'response' }>> = {},
): KycertResult => ({
  kind: 'response',
  httpStatus,
  ...extra,
});
const networkError: KycertResult = {
  kind: 'networkError',
  errorCode: 'ECONNRESET',
  errorMessage: 'socket hang up',
};

describe('decide: what kycert answered', () => {
  it.each([
    [202, false],
    [201, false],
    [200, true],
  ])('HTTP %i with a run_id succeeds (replayed: %s)', (status, replayed) => {
    expect(decide(response(status, { runId: 'run_1' }), context(), options)).toEqual({
      action: 'succeed',
      runId: 'run_1',
      replayed,
    });
  });

  it.each([
    ['delta-seconds', '120', 120],
    ['HTTP-date 90 s ahead', new Date(NOW_MS + 90_000).toUTCString(), 90],
    ['absent: kycert default 60 s', undefined, 60],
    // "Retry now" (kycert's clock a little behind ours): the 1 s floor, never a visibility of 0.
    ['zero', '0', 1],
    ['HTTP-date in the past', new Date(NOW_MS - 90_000).toUTCString(), 1],
  ])('429 with Retry-After %s waits %i s (random = 0)', (_, retryAfter, expectedSeconds) => {
    const result = response(429, retryAfter === undefined ? {} : { retryAfter });
    expect(decide(result, context(), options)).toEqual({
      action: 'retry',
      cause: 'rate_limited',
      delaySeconds: expectedSeconds,
      givesBackAttempt: true,
    });
  });

  it.each([
    ['garbage', 'soon'],
    ['negative', '-5'],
    ['fractional', '1.5'],
    ['beyond 2^53', '99999999999999999999'],
  ])('429 with an unreadable Retry-After (%s) waits kycert’s 60 s and says so in a note', (_, retryAfter) => {
    expect(decide(response(429, { retryAfter }), context(), options)).toEqual({
      action: 'retry',
      cause: 'rate_limited',
      delaySeconds: 60,
      note: `unreadable Retry-After ${JSON.stringify(retryAfter)}; kycert's default 60 s applied`,
      givesBackAttempt: true,
    });
  });

  it.each([
    // [Retry-After, X-RateLimit-Reset − now in s, expected wait]: the larger of the two, at least 1 s
    ['0', 0, 1],
    ['0', -2, 1], // both "past": kycert's clock 2 s behind ours
    ['0', 7, 7],
    ['3', 7, 7],
    ['9', 7, 9],
    [undefined, 12, 12],
    [undefined, -5, 1],
  ])(
    '429 with Retry-After %s and a reset %i s away waits %i s (random = 0)',
    (retryAfter, resetInSeconds, expected) => {
      const result = response(429, {
        ...(retryAfter === undefined ? {} : { retryAfter }),
        rateLimit: { limit: 60, remaining: 0, resetAtEpochSeconds: NOW_MS / 1000 + resetInSeconds },
      });
      expect(decide(result, context(), options)).toEqual({
        action: 'retry',
        cause: 'rate_limited',
        delaySeconds: expected,
        givesBackAttempt: true,
      });
    },
  );

  it('a reset is no reason to wait while the window still has budget: that 429 is another limit’s', () => {
    const result = response(429, {
      retryAfter: '2',
      rateLimit: { limit: 60, remaining: 12, resetAtEpochSeconds: NOW_MS / 1000 + 40 },
    });
    expect(decide(result, context(), options)).toEqual({
      action: 'retry',
      cause: 'rate_limited',
      delaySeconds: 2,
      givesBackAttempt: true,
    });
  });

  it('a reset further ahead than maxRateLimitResetSeconds is ignored, with a note', () => {
    const result = response(429, {
      retryAfter: '5',
      // epoch milliseconds sent where seconds belong
      rateLimit: { limit: 60, remaining: 0, resetAtEpochSeconds: NOW_MS + 60_000 },
    });
    const decision = decide(result, context(), { ...options, maxRateLimitResetSeconds: 3600 });
    expect(decision).toMatchObject({ action: 'retry', cause: 'rate_limited', delaySeconds: 5 });
    expect(decision).toHaveProperty(
      'note',
      expect.stringMatching(/^X-RateLimit-Reset \d+ s ahead, beyond 3600 s: ignored$/),
    );
  });

  it('429 jitter adds at most a tenth of Retry-After (plus one second), never less than Retry-After', () => {
    const high = decide(response(429, { retryAfter: '60' }), context({ random: 0.999_999 }), options);
    expect(high).toEqual({
      action: 'retry',
      cause: 'rate_limited',
      delaySeconds: 66,
      givesBackAttempt: true,
    });
  });

  it.each([
    ['500', response(500), 'server_error'],
    ['502', response(502), 'server_error'],
    ['503', response(503), 'server_error'],
    ['408', response(408), 'server_error'],
    ['202 without a readable run_id', response(202), 'server_error'],
    ['network error', networkError, 'network_error'],
    ['409 in progress', response(409, { errorCode: 'idempotency_in_progress' }), 'in_progress'],
  ])('%s retries with backoff', (_, result, cause) => {
    expect(decide(result, context({ attempt: 3, random: 0 }), options)).toEqual({
      action: 'retry',
      cause,
      delaySeconds: 2, // attempt 3: 4 s ceiling, equal jitter with random 0 → 2 s
    });
  });

  it.each([
    [400, 'invalid_document', 'kycert_rejected'],
    [404, 'template_not_found', 'kycert_rejected'],
    [422, 'idempotency_key_reused', 'kycert_rejected'],
  ])('HTTP %i (%s) dead-letters at once as %s, even on the first attempt', (status, code, reason) => {
    const decision = decide(response(status, { errorCode: code, errorMessage: 'nope' }), context(), options);
    expect(decision).toEqual({ action: 'deadLetter', reason, code, detail: `HTTP ${status} ${code}: nope` });
  });

  it.each([
    [402, 'insufficient_credits', 'http_402'],
    [403, 'missing_scope', 'http_403'],
    [401, 'invalid_api_key', 'http_401'], // a 401 reaches the policy only after the key was read again
  ])(
    'HTTP %i (%s) is about the account: the flow pauses (%s), the message is not dead-lettered',
    (status, code, pauseCode) => {
      const decision = decide(
        response(status, { errorCode: code, errorMessage: 'nope' }),
        context({ attempt: 12 }),
        options,
      );
      expect(decision).toEqual({ action: 'pause', code: pauseCode, detail: `HTTP ${status} ${code}: nope` });
    },
  );

  it('a 402 replayed under the key (kycert kept it) needs a fresh key: dead-lettered, not paused', () => {
    const decision = decide(
      response(402, { errorCode: 'insufficient_credits', errorMessage: 'No credits', replayed: true }),
      context(),
      options,
    );
    expect(decision).toMatchObject({
      action: 'deadLetter',
      reason: 'kycert_rejected',
      code: 'insufficient_credits',
    });
  });

  it('a 4xx without kycert’s envelope is named by its status', () => {
    expect(decide(response(418), context(), options)).toMatchObject({
      action: 'deadLetter',
      reason: 'kycert_rejected',
      code: 'http_418',
    });
  });

  it.each([301, 304, 100])('HTTP %i is an unexpected response, not retried', (status) => {
    expect(decide(response(status), context(), options)).toMatchObject({
      action: 'deadLetter',
      reason: 'unexpected_response',
    });
  });
});

describe('decide: bounds', () => {
  it('the last allowed attempt dead-letters a retryable failure as retries_exhausted', () => {
    expect(decide(response(503), context({ attempt: 8 }), options)).toMatchObject({
      action: 'deadLetter',
      reason: 'retries_exhausted',
      detail: 'after 8 attempts; last: HTTP 503',
    });
    expect(decide(response(503), context({ attempt: 7 }), options)).toMatchObject({ action: 'retry' });
  });

  it('a 429 spends no attempt (its attempt given back), so even on the last one it is retried', () => {
    expect(decide(response(429, { retryAfter: '5' }), context({ attempt: 8 }), options)).toEqual({
      action: 'retry',
      cause: 'rate_limited',
      delaySeconds: 5,
      givesBackAttempt: true,
    });
    // Where a tenant's kycert does keep a 429 as an attempt: rateLimitedSpendsAttempt.
    expect(
      decide(response(429, { retryAfter: '5' }), context({ attempt: 8 }), {
        ...options,
        rateLimitedSpendsAttempt: true,
      }),
    ).toMatchObject({ action: 'deadLetter', reason: 'retries_exhausted' });
    expect(
      decide(response(429, { retryAfter: '5' }), context({ attempt: 3 }), {
        ...options,
        rateLimitedSpendsAttempt: true,
      }),
    ).toEqual({ action: 'retry', cause: 'rate_limited', delaySeconds: 5 });
  });

  it('a 429 on the last receive is still dead-lettered with a reason: the receive budget binds every wait', () => {
    expect(decide(response(429, { retryAfter: '5' }), context({ receiveCount: 11 }), options)).toMatchObject({
      action: 'deadLetter',
      reason: 'retries_exhausted',
    });
  });

  it('the last receive before SQS would move the message itself dead-letters it with a reason', () => {
    expect(decide(networkError, context({ attempt: 2, receiveCount: 11 }), options)).toMatchObject({
      action: 'deadLetter',
      reason: 'retries_exhausted',
    });
  });

  it('a success on the last attempt is still a success', () => {
    expect(
      decide(response(202, { runId: 'run_9' }), context({ attempt: 8, receiveCount: 11 }), options),
    ).toMatchObject({ action: 'succeed' });
  });

  it('a retry that would land outside the key window dead-letters as idempotency_window_expired', () => {
    const firstAttemptAtMs = NOW_MS - 22 * HOUR_MS + 30_000; // 30 s left in the window
    expect(
      decide(response(503), context({ attempt: 3, firstAttemptAtMs, random: 0 }), options),
    ).toMatchObject({
      action: 'retry', // attempt 3: 2 s
    });
    expect(
      decide(response(429, { retryAfter: '60' }), context({ attempt: 3, firstAttemptAtMs }), options),
    ).toMatchObject({ action: 'deadLetter', reason: 'idempotency_window_expired' });
    expect(
      decide(response(429, { retryAfter: '20' }), context({ attempt: 3, firstAttemptAtMs }), options),
    ).toMatchObject({ action: 'retry' });
  });

  it('a 429 on the first POST that asks for a wait past the window has its own reason: no run exists', () => {
    const firstAttemptAtMs = NOW_MS - 22 * HOUR_MS + 30_000; // 30 s left in the window
    expect(
      decide(response(429, { retryAfter: '60' }), context({ attempt: 1, firstAttemptAtMs }), options),
    ).toMatchObject({ action: 'deadLetter', reason: 'rate_limited_past_key_window' });
    expect(
      decide(response(429, { retryAfter: '60' }), context({ attempt: 2, firstAttemptAtMs }), options),
    ).toMatchObject({ action: 'deadLetter', reason: 'idempotency_window_expired' });
  });

  it('the wanted delay is returned whole: the 12 h visibility ceiling is applied where the visibility changes', () => {
    const decision = decide(response(429, { retryAfter: '50000' }), context(), {
      ...options,
      idempotencyWindowSeconds: 10 ** 7,
    });
    expect(decision).toEqual({
      action: 'retry',
      cause: 'rate_limited',
      delaySeconds: 50_000,
      givesBackAttempt: true,
    });
  });
});

describe('isLastReceive', () => {
  it.each([
    [9, false],
    [10, true], // maxReceiveCount − 1: one receive of margin, as ApproximateReceiveCount is approximate
    [11, true],
    [12, true],
  ])('receive %i of maxReceiveCount 11 → %s', (receiveCount, expected) => {
    expect(isLastReceive(receiveCount, options)).toBe(expected);
  });
});

describe('beforeAttempt', () => {
  it('lets an attempt inside the budget and the window go ahead', () => {
    expect(
      beforeAttempt(context({ attempt: 8, firstAttemptAtMs: NOW_MS - 21 * HOUR_MS }), options),
    ).toBeUndefined();
  });

  it('refuses a POST once the key may have been forgotten', () => {
    expect(
      beforeAttempt(context({ attempt: 2, firstAttemptAtMs: NOW_MS - 22 * HOUR_MS - 1 }), options),
    ).toMatchObject({
      action: 'deadLetter',
      reason: 'idempotency_window_expired',
    });
  });

  it('refuses an attempt beyond the budget (crashed deliveries count)', () => {
    expect(beforeAttempt(context({ attempt: 9 }), options)).toMatchObject({
      action: 'deadLetter',
      reason: 'retries_exhausted',
    });
  });
});

describe('backoffSeconds', () => {
  it.each([
    [1, 0, 1],
    [1, 0.999, 1],
    [2, 0, 1],
    [2, 0.999, 2],
    [4, 0, 4],
    [4, 0.999, 8],
    [11, 0, 450], // 1024 s capped at 900 s
    [11, 0.999, 900],
    [40, 0.5, 675], // no overflow far past the cap
  ])('attempt %i with random %f waits %i s', (attempt, random, expected) => {
    expect(backoffSeconds(attempt, random, options)).toBe(expected);
  });
});
