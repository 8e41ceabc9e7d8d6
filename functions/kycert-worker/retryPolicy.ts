import { KYCERT_DEFAULT_RETRY_AFTER_SECONDS, SQS_MAX_VISIBILITY_SECONDS } from './constants.js';
import type { KycertResult } from './kycertClient.js';
import { parseRetryAfter } from './parseRetryAfter.js';

/**
 * The heart of the worker: given what kycert answered and where this key stands, decide what happens to the
 * message. Pure — no I/O, no clock, no randomness of its own — so every path is a row in a table test.
 */
export type Decision =
  | { action: 'succeed'; runId: string; replayed: boolean }
  | { action: 'retry'; cause: RetryCause; delaySeconds: number }
  | { action: 'deadLetter'; reason: DeadLetterReason; code?: string; detail: string };

export const RetryCause = {
  rateLimited: 'rate_limited',
  inProgress: 'in_progress',
  serverError: 'server_error',
  networkError: 'network_error',
} as const;
export type RetryCause = (typeof RetryCause)[keyof typeof RetryCause];

export const DeadLetterReason = {
  invalidMessage: 'invalid_message',
  kycertRejected: 'kycert_rejected',
  kycertUnauthorized: 'kycert_unauthorized',
  unexpectedResponse: 'unexpected_response',
  retriesExhausted: 'retries_exhausted',
  idempotencyWindowExpired: 'idempotency_window_expired',
} as const;
export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

export interface RetryPolicyOptions {
  /** POSTs allowed per key, the first included. */
  maxAttempts: number;
  /** The queue's redrive `maxReceiveCount`: past it SQS moves the message to the DLQ without a reason. */
  maxReceiveCount: number;
  backoffBaseSeconds: number;
  backoffMaxSeconds: number;
  /** No POST later than this after the key's first attempt (kycert forgets keys after 24 h). */
  idempotencyWindowSeconds: number;
}

export interface AttemptContext {
  /** POSTs begun under this key, this one included (1-based), across every delivery and copy. */
  attempt: number;
  /** SQS `ApproximateReceiveCount` of this delivery. */
  receiveCount: number;
  firstAttemptAtMs: number;
  /** When this delivery was received: SQS caps a visibility timeout at 12 h from then. */
  receivedAtMs: number;
  nowMs: number;
  /** A draw in [0, 1) for jitter, passed in so that the policy stays pure. */
  random: number;
}

/** Checked before every POST: never send one that the key's window or the attempt budget forbids. */
export function beforeAttempt(ctx: AttemptContext, options: RetryPolicyOptions): Decision | undefined {
  if (ctx.attempt > options.maxAttempts) {
    return deadLetter(
      'retriesExhausted',
      `attempt ${ctx.attempt} exceeds the ${options.maxAttempts} allowed`,
    );
  }
  if (ctx.nowMs - ctx.firstAttemptAtMs > options.idempotencyWindowSeconds * 1000) {
    return deadLetter(
      'idempotencyWindowExpired',
      'the key may be forgotten by kycert; a POST could run twice',
    );
  }
  return undefined;
}

export function decide(result: KycertResult, ctx: AttemptContext, options: RetryPolicyOptions): Decision {
  // 1. Eligibility: answers that end the story, then the ones worth another try.
  let cause: RetryCause;
  let delaySeconds: number;
  if (result.kind === 'networkError') {
    cause = 'network_error'; // the run may or may not exist: only the same key may find out
    delaySeconds = backoffSeconds(ctx.attempt, ctx.random, options);
  } else {
    const status = result.httpStatus;
    if (status >= 200 && status < 300 && result.runId !== undefined) {
      return { action: 'succeed', runId: result.runId, replayed: status === 200 };
    }
    if (status === 429) {
      cause = 'rate_limited';
      const retryAfterSeconds =
        parseRetryAfter(result.retryAfter, ctx.nowMs) ?? KYCERT_DEFAULT_RETRY_AFTER_SECONDS;
      delaySeconds = retryAfterSeconds + Math.floor(ctx.random * (Math.ceil(retryAfterSeconds / 10) + 1));
    } else if (status === 409) {
      cause = 'in_progress';
      delaySeconds = backoffSeconds(ctx.attempt, ctx.random, options);
    } else if (status >= 500 || status === 408 || (status >= 200 && status < 300)) {
      cause = 'server_error'; // includes a 2xx without a readable run_id: the run exists, a replay will tell
      delaySeconds = backoffSeconds(ctx.attempt, ctx.random, options);
    } else if (status === 401) {
      return deadLetter('kycertUnauthorized', describe(result), result.errorCode);
    } else if (status >= 400) {
      return deadLetter('kycertRejected', describe(result), result.errorCode ?? `http_${status}`);
    } else {
      return deadLetter('unexpectedResponse', describe(result), `http_${status}`);
    }
  }
  // 2. Bounds: the attempt budget, the key's window, SQS's visibility ceiling.
  if (ctx.attempt >= options.maxAttempts || ctx.receiveCount >= options.maxReceiveCount) {
    return deadLetter('retriesExhausted', `after ${ctx.attempt} attempts; last: ${describe(result)}`);
  }
  if (ctx.nowMs + delaySeconds * 1000 - ctx.firstAttemptAtMs > options.idempotencyWindowSeconds * 1000) {
    return deadLetter(
      'idempotencyWindowExpired',
      `next attempt would fall outside the key's window; last: ${describe(result)}`,
    );
  }
  const elapsedSinceReceiveSeconds = Math.ceil((ctx.nowMs - ctx.receivedAtMs) / 1000);
  const ceilingSeconds = Math.max(0, SQS_MAX_VISIBILITY_SECONDS - elapsedSinceReceiveSeconds);
  return { action: 'retry', cause, delaySeconds: Math.min(Math.max(0, delaySeconds), ceilingSeconds) };
}

/**
 * Exponential backoff, kycert's 1 s, 2 s, 4 s… capped, with "equal jitter": half fixed, half random, so
 * copies spread out yet the wait never collapses to zero. Whole seconds, because SQS counts in seconds.
 */
export function backoffSeconds(attempt: number, random: number, options: RetryPolicyOptions): number {
  const exponentialSeconds = Math.min(
    options.backoffBaseSeconds * 2 ** (attempt - 1),
    options.backoffMaxSeconds,
  );
  return Math.ceil(exponentialSeconds / 2 + (random * exponentialSeconds) / 2);
}

function deadLetter(reason: keyof typeof DeadLetterReason, detail: string, code?: string): Decision {
  return code === undefined
    ? { action: 'deadLetter', reason: DeadLetterReason[reason], detail }
    : { action: 'deadLetter', reason: DeadLetterReason[reason], code, detail };
}

function describe(result: KycertResult): string {
  if (result.kind === 'networkError') return `network error ${result.errorCode}: ${result.errorMessage}`;
  const error = result.errorCode === undefined ? '' : ` ${result.errorCode}: ${result.errorMessage ?? ''}`;
  return `HTTP ${result.httpStatus}${error}`.trim();
}
