/**
 * Limits imposed by AWS and by kycert. Every number carries its unit and its source.
 */

/** SQS: a visibility timeout is 0–43 200 s, and never more than 12 h after the message was received. */
export const SQS_MAX_VISIBILITY_SECONDS = 43_200;

/** 6 × Lambda's longest timeout (AWS's guidance for an SQS event source): the widest a queue's visibility should be. */
export const DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS = 6 * 900;

/**
 * kycert's limit is per minute, so an `X-RateLimit-Reset` is seconds away; one further ahead than this is a header
 * in milliseconds, a proxy's daily quota or a clock glitch, and is not believed.
 */
export const DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS = 3_600;

/** kycert keeps an `Idempotency-Key` for 24 h per tenant, then forgets it. */
export const KYCERT_IDEMPOTENCY_KEY_TTL_HOURS = 24;

/** kycert docs: a 429 without `Retry-After` should wait 60 s. */
export const KYCERT_DEFAULT_RETRY_AFTER_SECONDS = 60;

/** kycert's documented production base URL; `sk_test_` sandbox keys use the same URL. */
export const KYCERT_DEFAULT_BASE_URL = 'https://admin.kycert.com.br/api/v1';

/**
 * The queue's redrive policy is a safety net for crashes, not the retry budget: the handler dead-letters
 * with a reason on its last allowed attempt, so SQS only moves a message on its own when the handler
 * never got to decide (crash, timeout, a copy deferred because another copy held the lease).
 * One number derives the other, so the two can never disagree.
 */
export const REDRIVE_HEADROOM_RECEIVES = 3;
export function maxReceiveCountFor(maxAttempts: number): number {
  return maxAttempts + REDRIVE_HEADROOM_RECEIVES;
}

/** Names of the outcome table's attributes and index that other parts (CDK, CLI, local pipeline) rely on. */
export const OutcomeTable = {
  partitionKey: 'idempotency_key',
  ttlAttribute: 'expires_at',
  statusIndexName: 'by-status',
  statusIndexPartitionKey: 'status',
  statusIndexSortKey: 'updated_at',
} as const;
