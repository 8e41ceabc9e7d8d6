import { DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS, KYCERT_DEFAULT_RETRY_AFTER_SECONDS } from './constants.js';
import { AccountBlockCode } from './flowControl.js';
import type { KycertResult } from './kycertClient.js';
import { parseRetryAfter } from './parseRetryAfter.js';

/**
 * The heart of the worker: given what kycert answered and where this key stands, decide what happens to the
 * message. Pure — no I/O, no clock, no randomness of its own — so every path is a row in a table test.
 */
export type Decision =
  | { action: 'succeed'; runId: string; replayed: boolean }
  | {
      action: 'retry';
      cause: RetryCause;
      /** Wanted delay; the one visibility function (deliveryVisibility.ts) applies SQS's 12 h ceiling. */
      delaySeconds: number;
      /** Something in kycert's answer that was not usable as sent, worth a log line. */
      note?: string;
      /** The POST proved nothing was done (a 429): its attempt is given back, waiting is not an attempt. */
      givesBackAttempt?: true;
    }
  | { action: 'deadLetter'; reason: DeadLetterReason; code?: string; detail: string }
  /**
   * The answer is about the account, not the message (402 out of credits, 403 a missing scope, a 401 that
   * persisted after the key was read again): the whole flow pauses (flowControl.ts). No run was created and
   * nothing was billed, so the message's attempt is given back.
   */
  | { action: 'pause'; code: AccountBlockCode; detail: string };

export const RetryCause = {
  rateLimited: 'rate_limited',
  inProgress: 'in_progress',
  serverError: 'server_error',
  networkError: 'network_error',
  /** Paused with the whole flow until the account is unblocked (flowControl.ts). */
  accountBlocked: 'account_blocked',
} as const;
export type RetryCause = (typeof RetryCause)[keyof typeof RetryCause];

export const DeadLetterReason = {
  invalidMessage: 'invalid_message',
  kycertRejected: 'kycert_rejected',
  unexpectedResponse: 'unexpected_response',
  retriesExhausted: 'retries_exhausted',
  idempotencyWindowExpired: 'idempotency_window_expired',
  /** A 429 on the key's first POST asked for a wait past the key's window: no run exists under the key. */
  rateLimitedPastKeyWindow: 'rate_limited_past_key_window',
  /** Another copy of the key held its lease on this copy's last receive before the redrive policy. */
  leaseHeldOnLastReceive: 'lease_held_on_last_receive',
  /** A copy of a key that already failed: the original reason follows (`key_already_failed:<reason>`). */
  keyAlreadyFailed: 'key_already_failed',
  /** Older than the queue's retention less an hour: dead-lettered before SQS could let it expire silently. */
  messageExpiring: 'message_expiring',
  /** Paused with the flow longer than the pause budget: `kycert_account_blocked:<http_402|http_401|http_403|api_key_unset>`. */
  kycertAccountBlocked: 'kycert_account_blocked',
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
  /**
   * An `X-RateLimit-Reset` further ahead than this is not believed (a header in milliseconds, a proxy's daily
   * quota, a clock glitch). kycert's docs give a per-minute limit, so its resets are seconds away.
   * @default 3600 s
   */
  maxRateLimitResetSeconds?: number;
  /** The main queue's retention: no message is left to expire in it. @default no check */
  queueRetentionSeconds?: number;
  /**
   * Whether a POST answered 429 spends one of the key's `maxAttempts`. Assumption (kycert's docs are silent):
   * a 429 is refused before anything is done, so no run is created, nothing billed, and nothing kept under
   * the key, like Stripe's and most APIs' 429s. The budget is the tenant's, not the message's, so by default
   * it does not: a long storm of 429s (another client of the key) is bounded by the key's window instead.
   * @default false
   */
  rateLimitedSpendsAttempt?: boolean;
}

export interface AttemptContext {
  /** POSTs begun under this key, this one included (1-based), across every delivery and copy. */
  attempt: number;
  /** SQS `ApproximateReceiveCount` of this delivery. */
  receiveCount: number;
  firstAttemptAtMs: number;
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
  let note: string | undefined;
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
      ({ delaySeconds, note } = rateLimitedDelay(result, ctx, options));
    } else if (status === 409) {
      cause = 'in_progress';
      delaySeconds = backoffSeconds(ctx.attempt, ctx.random, options);
    } else if (status >= 500 || status === 408 || (status >= 200 && status < 300)) {
      cause = 'server_error'; // includes a 2xx without a readable run_id: the run exists, a replay will tell
      delaySeconds = backoffSeconds(ctx.attempt, ctx.random, options);
    } else if (ACCOUNT_BLOCKS[status] !== undefined && result.replayed === true) {
      // kycert kept this answer under the key: the account may be fine now, but this key will only ever replay
      // it. Pausing would not help; the request needs a fresh key.
      return deadLetter(
        'kycertRejected',
        `${describe(result)} (replayed under the key: redrive with a fresh key)`,
        result.errorCode ?? `http_${status}`,
      );
    } else if (ACCOUNT_BLOCKS[status] !== undefined) {
      return { action: 'pause', code: ACCOUNT_BLOCKS[status], detail: describe(result) };
    } else if (status >= 400) {
      return deadLetter('kycertRejected', describe(result), result.errorCode ?? `http_${status}`);
    } else {
      return deadLetter('unexpectedResponse', describe(result), `http_${status}`);
    }
  }
  // 2. Bounds: the attempt budget (a 429 given back does not spend it), the receive budget, the key's window.
  const givesBackAttempt = cause === 'rate_limited' && options.rateLimitedSpendsAttempt !== true;
  if ((!givesBackAttempt && ctx.attempt >= options.maxAttempts) || isLastReceive(ctx.receiveCount, options)) {
    return deadLetter('retriesExhausted', `after ${ctx.attempt} attempts; last: ${describe(result)}`);
  }
  if (ctx.nowMs + delaySeconds * 1000 - ctx.firstAttemptAtMs > options.idempotencyWindowSeconds * 1000) {
    // A 429 on the first POST (the first counted: 429s given back leave the count at 1) proves that no run
    // exists under the key: the window matters only for the duplicate it would guard against, so say which.
    return cause === 'rate_limited' && ctx.attempt === 1
      ? deadLetter(
          'rateLimitedPastKeyWindow',
          `kycert asked to wait ${delaySeconds} s, past the key's window; no run was created: ${describe(result)}`,
        )
      : deadLetter(
          'idempotencyWindowExpired',
          `next attempt would fall outside the key's window; last: ${describe(result)}`,
        );
  }
  return {
    action: 'retry',
    cause,
    delaySeconds,
    ...(note === undefined ? {} : { note }),
    ...(givesBackAttempt ? { givesBackAttempt: true as const } : {}),
  };
}

/**
 * The last receive the worker sees before the redrive policy may act. `ApproximateReceiveCount` is approximate,
 * so one receive of margin: from here on a message is settled (sent, acknowledged or dead-lettered with a
 * reason), never deferred again.
 */
export function isLastReceive(
  receiveCount: number,
  options: Pick<RetryPolicyOptions, 'maxReceiveCount'>,
): boolean {
  return receiveCount >= options.maxReceiveCount - 1;
}

/**
 * After a 429: at least `max(Retry-After, X-RateLimit-Reset − now, 1 s)` (the reset when the window's budget is
 * spent: `X-RateLimit-Remaining: 0`), plus up to 10 % jitter so that the
 * messages that met the limit together do not all come back together. kycert's default (60 s) applies when
 * neither header says anything usable. A `Retry-After: 0`, or a date or reset already past (kycert's clock a
 * little behind ours), says "the window turns now": it gets the 1 s floor, never a visibility of 0, which would
 * hand the message straight back to POST again inside the same window.
 */
export function rateLimitedDelay(
  result: Extract<KycertResult, { kind: 'response' }>,
  ctx: Pick<AttemptContext, 'nowMs' | 'random'>,
  options: Pick<RetryPolicyOptions, 'maxRateLimitResetSeconds'>,
): { delaySeconds: number; note?: string } {
  const notes: string[] = [];
  const retryAfterSeconds = parseRetryAfter(result.retryAfter, ctx.nowMs);
  if (result.retryAfter !== undefined && retryAfterSeconds === undefined) {
    notes.push(`unreadable Retry-After ${JSON.stringify(result.retryAfter.slice(0, 64))}`);
  }
  let resetInSeconds: number | undefined;
  // The reset matters when the window is spent. A 429 with budget left in the window is another limit (a
  // burst or concurrency cap, a proxy's): then Retry-After alone says when. Assumption; kycert's docs are silent.
  if (result.rateLimit !== undefined && result.rateLimit.remaining <= 0) {
    const seconds = Math.ceil(result.rateLimit.resetAtEpochSeconds - ctx.nowMs / 1000);
    const bound = options.maxRateLimitResetSeconds ?? DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS;
    if (seconds > bound) notes.push(`X-RateLimit-Reset ${seconds} s ahead, beyond ${bound} s: ignored`);
    else resetInSeconds = seconds;
  }
  const toldSeconds = [retryAfterSeconds, resetInSeconds].filter((s) => s !== undefined);
  if (toldSeconds.length === 0 && notes.length > 0) {
    notes.push(`kycert's default ${KYCERT_DEFAULT_RETRY_AFTER_SECONDS} s applied`);
  }
  const baseSeconds =
    toldSeconds.length === 0 ? KYCERT_DEFAULT_RETRY_AFTER_SECONDS : Math.max(1, ...toldSeconds);
  const delaySeconds = baseSeconds + Math.floor(ctx.random * (Math.ceil(baseSeconds / 10) + 1));
  return notes.length === 0 ? { delaySeconds } : { delaySeconds, note: notes.join('; ') };
}

/** kycert's account-level answers: a 401 reaches the policy only once the key was read again and refused twice. */
const ACCOUNT_BLOCKS: Partial<Record<number, AccountBlockCode>> = {
  401: AccountBlockCode.unauthorized,
  402: AccountBlockCode.outOfCredits,
  403: AccountBlockCode.missingScope,
};

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
