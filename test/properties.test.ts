import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  KYCERT_DEFAULT_RETRY_AFTER_SECONDS,
  SQS_MAX_VISIBILITY_SECONDS,
} from '../functions/kycert-worker/constants.js';
import { type Delivery, visibilityTimeoutSeconds } from '../functions/kycert-worker/deliveryVisibility.js';
import type { KycertResult } from '../functions/kycert-worker/kycertClient.js';
import { parseRetryAfter } from '../functions/kycert-worker/parseRetryAfter.js';
import {
  type AttemptContext,
  backoffSeconds,
  beforeAttempt,
  decide,
  type RetryPolicyOptions,
} from '../functions/kycert-worker/retryPolicy.js';
import { formatRetryAfter } from '../local/sandbox/retryAfter.js';

/**
 * Properties of the pure decision (retryPolicy.ts) and of Retry-After parsing, over inputs fast-check draws:
 * SQS's limits, the jitter's bounds, the attempt budget and the key window hold for every one of them.
 */

const HOUR_MS = 3_600_000;
const NOW_MS = Date.parse('2026-11-23T12:00:00Z');

// ---- Inputs -------------------------------------------------------------------------------------------

const optionsArb: fc.Arbitrary<RetryPolicyOptions> = fc
  .record({
    maxAttempts: fc.integer({ min: 1, max: 30 }),
    headroom: fc.integer({ min: 1, max: 5 }),
    backoffBaseSeconds: fc.integer({ min: 1, max: 120 }),
    backoffMaxSeconds: fc.integer({ min: 1, max: SQS_MAX_VISIBILITY_SECONDS }),
    idempotencyWindowHours: fc.integer({ min: 1, max: 23 }),
  })
  .map(({ maxAttempts, headroom, backoffBaseSeconds, backoffMaxSeconds, idempotencyWindowHours }) => ({
    maxAttempts,
    maxReceiveCount: maxAttempts + headroom,
    backoffBaseSeconds,
    backoffMaxSeconds: Math.max(backoffBaseSeconds, backoffMaxSeconds),
    idempotencyWindowSeconds: idempotencyWindowHours * 3600,
  }));

const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const contextArb: fc.Arbitrary<AttemptContext> = fc
  .record({
    attempt: fc.integer({ min: 1, max: 40 }),
    receiveCount: fc.integer({ min: 1, max: 40 }),
    sinceFirstAttemptMs: fc.integer({ min: 0, max: 30 * HOUR_MS }),
    random: randomArb,
  })
  .map(({ attempt, receiveCount, sinceFirstAttemptMs, random }) => ({
    attempt,
    receiveCount,
    firstAttemptAtMs: NOW_MS - sinceFirstAttemptMs,
    nowMs: NOW_MS,
    random,
  }));

/** A receive some time ago: within a Lambda's 15 min, or anywhere up to past the 12 h ceiling. */
const deliveryArb: fc.Arbitrary<Delivery> = fc
  .oneof(fc.integer({ min: 0, max: 15 * 60_000 }), fc.integer({ min: 0, max: 13 * HOUR_MS }))
  .map((sinceReceiveMs) => ({
    messageId: 'm',
    receiptHandle: 'r',
    receiveCount: 1,
    receivedAtMs: NOW_MS - sinceReceiveMs,
    sentAtMs: NOW_MS - sinceReceiveMs,
  }));

/** HTTP-dates in RFC 9110's three forms (RFC 850's two-digit year read as 20xx), whole seconds. */
const httpDateArb = fc
  .record({
    offsetSeconds: fc.integer({ min: -3 * 86_400, max: 3 * 86_400 }),
    form: fc.constantFrom('imf', 'rfc850', 'asctime'),
  })
  .map(({ offsetSeconds, form }) => {
    const atMs = Math.floor(NOW_MS / 1000) * 1000 + offsetSeconds * 1000;
    return { atMs, text: formatHttpDate(atMs, form) };
  });

const retryAfterArb: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.nat({ max: 200_000 }).map(String),
  fc.nat({ max: 100 }).map((n) => ` ${n} `),
  httpDateArb.map((d) => d.text),
  fc.string(),
);

const responseArb: fc.Arbitrary<KycertResult> = fc.record(
  {
    kind: fc.constant('response' as const),
    httpStatus: fc.oneof(
      fc.integer({ min: 100, max: 599 }),
      fc.constantFrom(200, 201, 202, 400, 401, 402, 403, 404, 408, 409, 422, 429, 500, 502, 503),
    ),
    runId: fc.option(fc.string({ minLength: 1, maxLength: 30 }), { nil: undefined }),
    errorCode: fc.option(fc.stringMatching(/^[a-z_]{1,20}$/), { nil: undefined }),
    retryAfter: retryAfterArb,
  },
  { requiredKeys: ['kind', 'httpStatus'] },
);
const networkErrorArb: fc.Arbitrary<KycertResult> = fc.record({
  kind: fc.constant('networkError' as const),
  errorCode: fc.constantFrom('ECONNRESET', 'UND_ERR_HEADERS_TIMEOUT', 'ECONNREFUSED', 'UND_ERR_SOCKET'),
  errorMessage: fc.string(),
});
const resultArb = fc.oneof(responseArb, networkErrorArb);
const rateLimitedArb: fc.Arbitrary<KycertResult> = retryAfterArb.map((retryAfter) => ({
  kind: 'response' as const,
  httpStatus: 429,
  ...(retryAfter === undefined ? {} : { retryAfter }),
}));

const status = (result: KycertResult) => (result.kind === 'response' ? result.httpStatus : undefined);

// ---- decide ---------------------------------------------------------------------------------------------

describe('decide: every input maps to exactly one decision', () => {
  it('one of succeed, retry, dead-letter, with exactly that decision’s fields, and the same again for the same input', () => {
    fc.assert(
      fc.property(resultArb, contextArb, optionsArb, (result, ctx, options) => {
        const decision = decide(result, ctx, options);
        expect(decide(result, ctx, options)).toEqual(decision);
        const fields = Object.keys(decision).sort();
        switch (decision.action) {
          case 'succeed':
            expect(fields).toEqual(['action', 'replayed', 'runId']);
            break;
          case 'retry':
            expect(fields.filter((f) => f !== 'note' && f !== 'givesBackAttempt')).toEqual([
              'action',
              'cause',
              'delaySeconds',
            ]);
            // Only a 429 gives its attempt back (and only when 429s spend none, the default).
            expect(decision.givesBackAttempt === true).toBe(
              status(result) === 429 && options.rateLimitedSpendsAttempt !== true,
            );
            break;
          case 'deadLetter':
            expect(fields.filter((f) => f !== 'code')).toEqual(['action', 'detail', 'reason']);
            break;
          case 'pause':
            expect(fields).toEqual(['action', 'code', 'detail']);
            break;
          default:
            throw new Error(`no such action: ${JSON.stringify(decision)}`);
        }
      }),
    );
  });

  it('a 2xx with a run id always succeeds; nothing else does', () => {
    fc.assert(
      fc.property(resultArb, contextArb, optionsArb, (result, ctx, options) => {
        const s = status(result);
        const succeeds =
          s !== undefined && s >= 200 && s < 300 && result.kind === 'response' && result.runId !== undefined;
        expect(decide(result, ctx, options).action === 'succeed').toBe(succeeds);
      }),
    );
  });
});

describe('decide: delays', () => {
  it('a retry delay is a whole number of seconds, at least 1: never a visibility of 0', () => {
    fc.assert(
      fc.property(resultArb, contextArb, optionsArb, (result, ctx, options) => {
        const decision = decide(result, ctx, options);
        if (decision.action !== 'retry') return;
        expect(Number.isInteger(decision.delaySeconds)).toBe(true);
        expect(decision.delaySeconds).toBeGreaterThanOrEqual(1);
      }),
    );
  });

  it('a retry never lands past the key window', () => {
    fc.assert(
      fc.property(resultArb, contextArb, optionsArb, (result, ctx, options) => {
        const decision = decide(result, ctx, options);
        if (decision.action !== 'retry') return;
        expect(ctx.nowMs + decision.delaySeconds * 1000 - ctx.firstAttemptAtMs).toBeLessThanOrEqual(
          options.idempotencyWindowSeconds * 1000,
        );
      }),
    );
  });

  it('a 429 waits at least max(Retry-After, 1 s) and at most that + ⌈that/10⌉; 60 s when Retry-After is unreadable', () => {
    fc.assert(
      fc.property(rateLimitedArb, contextArb, optionsArb, (result, ctx, options) => {
        const decision = decide(result, ctx, options);
        if (decision.action !== 'retry') return;
        const retryAfter =
          result.kind === 'response' ? parseRetryAfter(result.retryAfter, ctx.nowMs) : undefined;
        const base = retryAfter === undefined ? KYCERT_DEFAULT_RETRY_AFTER_SECONDS : Math.max(1, retryAfter);
        expect(decision.cause).toBe('rate_limited');
        expect(decision.delaySeconds).toBeGreaterThanOrEqual(base);
        expect(decision.delaySeconds).toBeLessThanOrEqual(base + Math.ceil(base / 10));
      }),
    );
  });

  it('5xx, 408, 409 and network errors wait exactly the backoff of their attempt', () => {
    const backoffAnswers = fc.oneof(
      networkErrorArb,
      fc
        .constantFrom(500, 502, 503, 504, 408, 409)
        .map((httpStatus): KycertResult => ({ kind: 'response', httpStatus })),
    );
    fc.assert(
      fc.property(backoffAnswers, contextArb, optionsArb, (result, ctx, options) => {
        const decision = decide(result, ctx, options);
        if (decision.action !== 'retry') return;
        expect(decision.delaySeconds).toBe(backoffSeconds(ctx.attempt, ctx.random, options));
      }),
    );
  });
});

describe('visibilityTimeoutSeconds: the one rule for every visibility change', () => {
  const wantedArb = fc.oneof(
    fc.double({ min: -10, max: 100_000, noNaN: true }),
    fc.integer({ min: 0, max: 100_000 }),
  );

  it('whole seconds in [1, 43 200], and ending within 12 h of the receive whenever that is still possible', () => {
    fc.assert(
      fc.property(wantedArb, deliveryArb, (wanted, delivery) => {
        const seconds = visibilityTimeoutSeconds(wanted, delivery, NOW_MS);
        expect(Number.isInteger(seconds)).toBe(true);
        expect(seconds).toBeGreaterThanOrEqual(1);
        expect(seconds).toBeLessThanOrEqual(SQS_MAX_VISIBILITY_SECONDS);
        const roomSeconds =
          SQS_MAX_VISIBILITY_SECONDS - Math.ceil((NOW_MS - delivery.receivedAtMs) / 1000) - 1;
        if (roomSeconds >= 1) {
          expect(NOW_MS + seconds * 1000).toBeLessThanOrEqual(
            delivery.receivedAtMs + SQS_MAX_VISIBILITY_SECONDS * 1000,
          );
        }
      }),
    );
  });

  it('the wanted delay itself, rounded up, whenever it fits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40_000 }), (wanted) => {
        const justReceived: Delivery = {
          messageId: 'm',
          receiptHandle: 'r',
          receiveCount: 1,
          receivedAtMs: NOW_MS,
          sentAtMs: NOW_MS,
        };
        expect(visibilityTimeoutSeconds(wanted - 0.5, justReceived, NOW_MS)).toBe(wanted);
      }),
    );
  });
});

describe('decide: bounds', () => {
  it('4xx other than 401, 402, 403 (the account), 408, 409, 429 is never retried: dead-lettered as kycert_rejected', () => {
    const rejected = fc
      .integer({ min: 400, max: 499 })
      .filter((s) => ![401, 402, 403, 408, 409, 429].includes(s))
      .chain((httpStatus) =>
        fc.record(
          {
            kind: fc.constant('response' as const),
            httpStatus: fc.constant(httpStatus),
            errorCode: fc.option(fc.stringMatching(/^[a-z_]{1,20}$/), { nil: undefined }),
            retryAfter: retryAfterArb,
          },
          { requiredKeys: ['kind', 'httpStatus'] },
        ),
      );
    fc.assert(
      fc.property(rejected, contextArb, optionsArb, (result, ctx, options) => {
        expect(decide(result, ctx, options)).toMatchObject({
          action: 'deadLetter',
          reason: 'kycert_rejected',
        });
      }),
    );
  });

  it('on the last receive nothing is retried; at or past the last attempt, only a 429, which gives its attempt back', () => {
    fc.assert(
      fc.property(resultArb, contextArb, optionsArb, fc.boolean(), (result, ctx, options, byAttempts) => {
        const last = byAttempts
          ? { ...ctx, attempt: Math.max(ctx.attempt, options.maxAttempts) }
          : { ...ctx, receiveCount: Math.max(ctx.receiveCount, options.maxReceiveCount) };
        const decision = decide(result, last, options);
        if (decision.action !== 'retry') return;
        // Waiting after a 429 is not an attempt (issue 10): the only retry left at the attempt bound.
        expect(byAttempts).toBe(true);
        expect(result).toMatchObject({ kind: 'response', httpStatus: 429 });
        expect(decision).toMatchObject({ givesBackAttempt: true });
      }),
      { numRuns: 2_000 },
    );
  });

  it('beforeAttempt: refuses a POST past the attempt budget or the key window, allows it otherwise', () => {
    fc.assert(
      fc.property(contextArb, optionsArb, (ctx, options) => {
        const refused = beforeAttempt(ctx, options);
        const overBudget = ctx.attempt > options.maxAttempts;
        const outOfWindow = ctx.nowMs - ctx.firstAttemptAtMs > options.idempotencyWindowSeconds * 1000;
        if (overBudget) expect(refused).toMatchObject({ action: 'deadLetter', reason: 'retries_exhausted' });
        else if (outOfWindow)
          expect(refused).toMatchObject({ action: 'deadLetter', reason: 'idempotency_window_expired' });
        else expect(refused).toBeUndefined();
      }),
    );
  });
});

// ---- backoff --------------------------------------------------------------------------------------------

describe('backoffSeconds', () => {
  const exponential = (attempt: number, options: RetryPolicyOptions) =>
    Math.min(options.backoffBaseSeconds * 2 ** (attempt - 1), options.backoffMaxSeconds);
  const attemptArb = fc.integer({ min: 1, max: 40 });

  it('equal jitter: between half the exponential delay and all of it, whole seconds', () => {
    fc.assert(
      fc.property(attemptArb, randomArb, optionsArb, (attempt, random, options) => {
        const seconds = backoffSeconds(attempt, random, options);
        const exp = exponential(attempt, options);
        expect(Number.isInteger(seconds)).toBe(true);
        expect(seconds).toBeGreaterThanOrEqual(exp / 2);
        expect(seconds).toBeLessThanOrEqual(exp);
      }),
    );
  });

  it('the ends of the jitter: random 0 gives ⌈exp/2⌉, random → 1 gives exp', () => {
    fc.assert(
      fc.property(attemptArb, optionsArb, (attempt, options) => {
        const exp = exponential(attempt, options);
        expect(backoffSeconds(attempt, 0, options)).toBe(Math.ceil(exp / 2));
        expect(backoffSeconds(attempt, 1 - Number.EPSILON, options)).toBe(exp);
      }),
    );
  });

  it('non-decreasing in the attempt for every draw, so in expectation too', () => {
    const draws = Array.from({ length: 101 }, (_, i) => Math.min(i / 100, 1 - Number.EPSILON));
    const mean = (attempt: number, options: RetryPolicyOptions) =>
      draws.reduce((sum, r) => sum + backoffSeconds(attempt, r, options), 0) / draws.length;
    fc.assert(
      fc.property(attemptArb, randomArb, optionsArb, (attempt, random, options) => {
        expect(backoffSeconds(attempt + 1, random, options)).toBeGreaterThanOrEqual(
          backoffSeconds(attempt, random, options),
        );
        expect(mean(attempt + 1, options)).toBeGreaterThanOrEqual(mean(attempt, options));
      }),
    );
  });
});

// ---- Retry-After ----------------------------------------------------------------------------------------

describe('parseRetryAfter', () => {
  it('delta-seconds: any whole number of seconds, spaces around allowed, is that number', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom('', ' ', '  '),
        (seconds, pad) => {
          expect(parseRetryAfter(`${pad}${seconds}${pad}`, NOW_MS)).toBe(seconds);
        },
      ),
    );
  });

  it('HTTP-date in all three forms: the whole seconds until then, 0 for the past', () => {
    fc.assert(
      fc.property(httpDateArb, ({ atMs, text }) => {
        expect(parseRetryAfter(text, NOW_MS)).toBe(Math.max(0, Math.ceil((atMs - NOW_MS) / 1000)));
      }),
    );
  });

  it('anything at all: undefined, or a whole number of seconds ≥ 0', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), retryAfterArb), (text) => {
        const seconds = parseRetryAfter(text, NOW_MS);
        if (seconds !== undefined) {
          expect(Number.isSafeInteger(seconds)).toBe(true);
          expect(seconds).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });

  it('signed, fractional or exponent numbers are unreadable', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 1, max: 1_000_000 }).map((n) => `-${n}`),
          fc.integer({ min: 0, max: 1_000 }).map((n) => `${n}.5`),
          fc.integer({ min: 1, max: 9 }).map((n) => `${n}e3`),
          fc.integer({ min: 0, max: 1_000 }).map((n) => `+${n}`),
        ),
        (text) => {
          expect(parseRetryAfter(text, NOW_MS)).toBeUndefined();
        },
      ),
    );
  });

  it("never comes back before the sandbox said: parse(format(d)) ≥ d in both of the sandbox's forms", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 100_000, noNaN: true }),
        fc.constantFrom('seconds' as const, 'http-date' as const),
        fc.integer({ min: 0, max: 999 }),
        (delaySeconds, format, millis) => {
          const nowMs = NOW_MS + millis;
          const parsed = parseRetryAfter(formatRetryAfter(delaySeconds, format, nowMs), nowMs);
          expect(parsed).toBeGreaterThanOrEqual(Math.max(1, delaySeconds));
        },
      ),
    );
  });
});

/** One moment in the form RFC 9110 §5.6.7 names. */
function formatHttpDate(atMs: number, form: 'imf' | 'rfc850' | 'asctime'): string {
  const date = new Date(atMs);
  if (form === 'imf') return date.toUTCString();
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  const day = days[date.getUTCDay()] ?? '';
  const month = months[date.getUTCMonth()] ?? '';
  if (form === 'rfc850') {
    return `${day}, ${two(date.getUTCDate())}-${month}-${two(date.getUTCFullYear() % 100)} ${time} GMT`;
  }
  return `${day.slice(0, 3)} ${month} ${String(date.getUTCDate()).padStart(2, ' ')} ${time} ${date.getUTCFullYear()}`;
}
