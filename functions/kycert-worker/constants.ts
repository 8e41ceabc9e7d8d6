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
 * The queue's redrive policy is a safety net for crashes, not the retry budget: the worker settles every message
 * itself (sent, acknowledged, or dead-lettered with a reason) before this many receives, so SQS only moves a
 * message on its own when the worker never got to decide (a crash loop). The arithmetic, with the defaults:
 *
 *   what the worker can reach     12 attempts × (1 receive + 1 deferral to a booked slot)       =  24
 *                                 + 12 lease waits × 6 receives (1, 2, 4… s, within a 60 s lease) =  72
 *                                 + a 24 h account pause rechecked every ≤ 300 s (+ the ramp-up)  = 292
 *                                                                                          worst  = 388
 *   what SQS then allows          500: above the worst case (which needs every cause at its worst at once)
 *   a crash loop meanwhile        500 receives × the 360 s visibility timeout = 50 h, under the 4-day
 *                                 retention, so SQS's redrive acts before the retention could; the worker also
 *                                 dead-letters any message older than the retention less an hour
 *                                 (`message_expiring`), so none expires silently.
 *
 * Waiting (for the rate budget, a lease, the account) is never an attempt: attempts are real POSTs, counted
 * per key in the outcome table.
 */
export const REDRIVE_MAX_RECEIVE_COUNT = 500;

/** SQS's default (and the stack's) retention of the main queue: 4 days. */
export const DEFAULT_QUEUE_RETENTION_SECONDS = 4 * 86_400;

/** Names of the outcome table's attributes and indexes that other parts (CDK, CLI, local pipeline, receiver) rely on. */
export const OutcomeTable = {
  partitionKey: 'idempotency_key',
  ttlAttribute: 'expires_at',
  /**
   * Sparse, keys only: a run id is written once, when kycert accepts the run; the webhook receiver finds the
   * key of a run through it (`OutcomeStore.keyOfRun`). Only outcome items carry `run_id`: the receiver's own
   * items (parked results, event ids) name the run otherwise, so that the index never answers with them.
   */
  runIdIndexName: 'by-run-id',
  runIdIndexPartitionKey: 'run_id',
  /**
   * Sparse, for the operator's `list`: only items with a `list_status` (a dead-lettered key, a decision, a failed
   * or overdue run, an unmatched webhook), spread over LIST_STATUS_SHARDS partitions (outcomeStore.ts), newest
   * first by `updated_at`.
   */
  listIndexName: 'by-list-status',
  listIndexPartitionKey: 'list_status',
  listIndexSortKey: 'updated_at',
  /** What the list index copies besides the keys: what `kycert-queue list` shows, and no more. */
  listIndexAttributes: [
    'status',
    'attempts',
    'last_http_status',
    'last_error_code',
    'last_error_message',
    'dead_letter_reason',
    'retry_cause',
    'run_id',
    'superseded_by',
    'external_id',
    'template_id',
    'run_status',
    'decision',
    'risk_band',
    'completed_at',
    'failed_at',
    'decided_at',
    'parked_run_id',
  ],
  /**
   * The index of stacks deployed before issue 11 (`status`, `updated_at`, all attributes). Kept only during the
   * staged upgrade (docs/deploy.md, "Upgrading the outcome table's indexes"), then deleted.
   */
  legacyStatusIndexName: 'by-status',
  legacyStatusIndexPartitionKey: 'status',
} as const;
