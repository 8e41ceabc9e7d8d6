// zod/mini: the same checks and zod's same English messages as zod's classic API, a fraction of its cost when
// some fifty schemas are built at init (issue 14, BENCHMARKS.md P4). The locale is zod's `en`, set as the
// classic API sets it.
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import {
  DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS,
  DEFAULT_QUEUE_RETENTION_SECONDS,
  DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS,
  KYCERT_DEFAULT_BASE_URL,
  REDRIVE_MAX_RECEIVE_COUNT,
} from './constants.js';
import { KYCERT_WEBHOOK_GRACE_SECONDS } from './statusCheckSchedule.js';

/**
 * The worker's configuration, read once per cold start from the environment.
 * Every variable is documented in the README ("Configuration"); the CDK construct sets them from its props.
 */
const positiveInt = (fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.positive()), fallback);

z.config(en());

const EnvShape = z.object({
  KYCERT_BASE_URL: z._default(z.url({ protocol: /^https?$/ }), KYCERT_DEFAULT_BASE_URL),
  /** Optional pin sent as `x-kycert-api-version`. */
  KYCERT_API_VERSION: z.optional(z.string().check(z.minLength(1))),
  /** Secrets Manager secret id (name or ARN) holding the API key; the usual way in AWS. */
  KYCERT_API_KEY_SECRET_ID: z.optional(z.string().check(z.minLength(1))),
  /** The API key itself; for local runs only. Takes precedence over the secret when both are set. */
  KYCERT_API_KEY: z.optional(z.string().check(z.minLength(1))),
  /** How long the API key is cached before it is read again. @default 300 s */
  KYCERT_API_KEY_CACHE_SECONDS: positiveInt(300),
  OUTCOME_TABLE_NAME: z.string().check(z.minLength(1)),
  QUEUE_URL: z.url(),
  DEAD_LETTER_QUEUE_URL: z.url(),
  /** POSTs allowed per idempotency key, the first included. @default 12 */
  MAX_ATTEMPTS: positiveInt(12),
  /** Must equal the queue's redrive `maxReceiveCount`. @default 500 (constants.ts: the arithmetic) */
  MAX_RECEIVE_COUNT: z._default(
    z.coerce.number().check(z.int(), z.positive(), z.maximum(1000)),
    REDRIVE_MAX_RECEIVE_COUNT,
  ),
  /**
   * The main queue's retention: a message older than this less an hour is dead-lettered as
   * `message_expiring` rather than left to expire. @default 345600 s (4 days)
   */
  QUEUE_RETENTION_SECONDS: positiveInt(DEFAULT_QUEUE_RETENTION_SECONDS),
  /** First backoff delay after a 5xx or network error; doubles each attempt. @default 1 s (kycert's docs) */
  BACKOFF_BASE_SECONDS: positiveInt(1),
  /** Ceiling of the backoff delay. @default 900 s */
  BACKOFF_MAX_SECONDS: positiveInt(900),
  /** No POST is sent later than this after a key's first attempt (kycert forgets keys after 24 h). @default 22 h */
  IDEMPOTENCY_WINDOW_HOURS: z._default(z.coerce.number().check(z.positive(), z.maximum(23)), 22),
  /** Connection timeout towards kycert. @default 3000 ms */
  HTTP_CONNECT_TIMEOUT_MS: positiveInt(3_000),
  /** Time allowed for kycert's response headers, and between body chunks. @default 10000 ms */
  HTTP_TIMEOUT_MS: positiveInt(10_000),
  /** Pace calls once kycert's X-RateLimit-Remaining drops under this share of the limit; 0 disables. @default 0.15 */
  KYCERT_THROTTLE_THRESHOLD: z._default(z.coerce.number().check(z.minimum(0), z.maximum(1)), 0.15),
  /** kycert's rate limit for the API key, per window: seeds the shared schedule. @default 60 requests */
  KYCERT_RATE_LIMIT_PER_MINUTE: positiveInt(60),
  /**
   * kycert's rate-limit window. Its docs give a limit "per minute"; a sandbox may use another window.
   * @default 60 s
   */
  KYCERT_RATE_LIMIT_WINDOW_SECONDS: z._default(z.coerce.number().check(z.positive(), z.maximum(3600)), 60),
  /**
   * Whether a POST answered 429 spends one of MAX_ATTEMPTS. kycert's docs are silent; a 429 is taken to
   * create, bill and keep nothing (retryPolicy.ts), so it does not. @default false
   */
  KYCERT_RATE_LIMITED_SPENDS_ATTEMPT: z._default(z.enum(['true', 'false']), 'false'),
  /** Share of the limit left unused, for other clients of the key and clock edges. @default 0.03 */
  KYCERT_RATE_HEADROOM: z._default(z.coerce.number().check(z.minimum(0), z.maximum(0.5)), 0.03),
  /** A slot at most this far away is waited for inside the function (BENCHMARKS.md, P3). @default 1000 ms */
  KYCERT_MAX_IN_FUNCTION_WAIT_MS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(10_000)),
    1_000,
  ),
  /** A message paused for the account longer than this is dead-lettered. @default 24 h */
  KYCERT_PAUSE_BUDGET_HOURS: z._default(z.coerce.number().check(z.positive(), z.maximum(72)), 24),
  /** First wait before probing a blocked account; doubles per failed probe. @default 30 s */
  KYCERT_PROBE_BASE_SECONDS: z._default(z.coerce.number().check(z.positive(), z.maximum(3600)), 30),
  /** Longest wait between probes. @default 300 s */
  KYCERT_PROBE_MAX_SECONDS: z._default(z.coerce.number().check(z.positive(), z.maximum(3600)), 300),
  /** What a kycert API key looks like (its docs: sk_test_… sandbox, sk_live_… live); anything else is a placeholder. @default ^sk_(test|live)_ */
  KYCERT_API_KEY_PATTERN: z._default(
    z.string().check(
      z.refine(
        (pattern) => {
          try {
            new RegExp(pattern);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'must be a valid regular expression' },
      ),
    ),
    '^sk_(test|live)_',
  ),
  /**
   * An X-RateLimit-Reset further ahead is not believed (kycert's limit is per minute; a reset hours away is a
   * header in milliseconds, a proxy's quota, a clock glitch). @default 3600 s
   */
  KYCERT_MAX_RATE_LIMIT_RESET_SECONDS: positiveInt(DEFAULT_MAX_RATE_LIMIT_RESET_SECONDS),
  /**
   * The queue's visibility timeout, which bounds how long before an invocation its records were received
   * (SQS caps a visibility at 12 h from the receive). @default 5400 s (6 × Lambda's longest timeout)
   */
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: positiveInt(DEFAULT_QUEUE_VISIBILITY_TIMEOUT_SECONDS),
  /** How long an outcome item is kept before DynamoDB's TTL removes it. @default 30 days */
  OUTCOME_TTL_DAYS: positiveInt(30),
  /** The status checks' queue (processStatusCheck.ts); unset: accepted runs are not followed. */
  STATUS_CHECK_QUEUE_URL: z.optional(z.url()),
  /** The interval between status checks doubles up to this. @default 900 s */
  STATUS_CHECK_MAX_INTERVAL_SECONDS: positiveInt(900),
  /** When kycert's 202 gives no estimate, the first check comes this long after acceptance. @default 10 s */
  STATUS_CHECK_DEFAULT_FIRST_DELAY_SECONDS: positiveInt(10),
  /** A run with no decision this long after acceptance is recorded as decision_overdue. @default 24 h */
  DECISION_OVERDUE_HOURS: z._default(z.coerce.number().check(z.positive(), z.maximum(72)), 24),
  /** kycert sends webhooks to this stack: status checks become the safety net, starting later. @default false */
  KYCERT_WEBHOOKS_ENABLED: z._default(z.enum(['true', 'false']), 'false'),
  /**
   * With webhooks, the first status check waits this much longer than kycert's estimate (kycert's docs: its
   * webhook comes 5–30 s after the run's creation). @default 60 s
   */
  STATUS_CHECK_WEBHOOK_GRACE_SECONDS: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(3600)),
    KYCERT_WEBHOOK_GRACE_SECONDS,
  ),
  /** The EventBridge bus decisions are published on; unset: none published. */
  DECISION_EVENT_BUS_NAME: z.optional(z.string().check(z.minLength(1))),
  /** The `stage` dimension of every metric; the CDK construct sets the stack's stage. @default 'local' */
  KYCERT_QUEUE_STAGE: z._default(z.string().check(z.minLength(1)), 'local'),
});

type Env = z.output<typeof EnvShape>;

const EnvSchema = EnvShape.check(
  z.refine((env: Env) => env.MAX_RECEIVE_COUNT > env.MAX_ATTEMPTS, {
    message:
      'must be greater than MAX_ATTEMPTS, or the queue would dead-letter before the worker can say why',
    path: ['MAX_RECEIVE_COUNT'],
  }),
  z.refine((env: Env) => env.BACKOFF_BASE_SECONDS <= env.BACKOFF_MAX_SECONDS, {
    message: 'must not be greater than BACKOFF_MAX_SECONDS',
    path: ['BACKOFF_BASE_SECONDS'],
  }),
  z.refine((env: Env) => env.KYCERT_PAUSE_BUDGET_HOURS * 3600 < env.QUEUE_RETENTION_SECONDS - 3600, {
    message: 'must stay below the queue retention (QUEUE_RETENTION_SECONDS) less an hour',
    path: ['KYCERT_PAUSE_BUDGET_HOURS'],
  }),
  z.refine((env: Env) => env.KYCERT_PROBE_BASE_SECONDS <= env.KYCERT_PROBE_MAX_SECONDS, {
    message: 'must not be greater than KYCERT_PROBE_MAX_SECONDS',
    path: ['KYCERT_PROBE_BASE_SECONDS'],
  }),
  z.refine((env: Env) => env.KYCERT_API_KEY !== undefined || env.KYCERT_API_KEY_SECRET_ID !== undefined, {
    message: 'set KYCERT_API_KEY_SECRET_ID (or KYCERT_API_KEY for local runs)',
    path: ['KYCERT_API_KEY_SECRET_ID'],
  }),
);

export interface WorkerConfig {
  kycertBaseUrl: string;
  kycertApiVersion: string | undefined;
  apiKey: { kind: 'env'; value: string } | { kind: 'secret'; secretId: string };
  apiKeyCacheSeconds: number;
  outcomeTableName: string;
  queueUrl: string;
  deadLetterQueueUrl: string;
  maxAttempts: number;
  maxReceiveCount: number;
  queueRetentionSeconds: number;
  backoffBaseSeconds: number;
  backoffMaxSeconds: number;
  idempotencyWindowSeconds: number;
  httpConnectTimeoutMs: number;
  httpTimeoutMs: number;
  outcomeTtlSeconds: number;
  throttleThreshold: number;
  rateLimitedSpendsAttempt: boolean;
  maxRateLimitResetSeconds: number;
  queueVisibilityTimeoutSeconds: number;
  rateLimit: { limitPerWindow: number; windowSeconds: number; headroom: number };
  flowControl: {
    maxInFunctionWaitMs: number;
    pauseBudgetMs: number;
    probeBaseMs: number;
    probeMaxMs: number;
    apiKeyPattern: RegExp;
  };
  stage: string;
  statusChecks:
    | {
        queueUrl: string;
        maxIntervalSeconds: number;
        defaultFirstDelaySeconds: number;
        overdueAfterSeconds: number;
        webhooksEnabled: boolean;
        webhookGraceSeconds: number;
      }
    | undefined;
  decisionEventBusName: string | undefined;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid worker configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  return {
    kycertBaseUrl: e.KYCERT_BASE_URL.replace(/\/+$/, ''),
    kycertApiVersion: e.KYCERT_API_VERSION,
    apiKey:
      e.KYCERT_API_KEY !== undefined
        ? { kind: 'env', value: e.KYCERT_API_KEY }
        : { kind: 'secret', secretId: e.KYCERT_API_KEY_SECRET_ID as string },
    apiKeyCacheSeconds: e.KYCERT_API_KEY_CACHE_SECONDS,
    outcomeTableName: e.OUTCOME_TABLE_NAME,
    queueUrl: e.QUEUE_URL,
    deadLetterQueueUrl: e.DEAD_LETTER_QUEUE_URL,
    maxAttempts: e.MAX_ATTEMPTS,
    maxReceiveCount: e.MAX_RECEIVE_COUNT,
    queueRetentionSeconds: e.QUEUE_RETENTION_SECONDS,
    backoffBaseSeconds: e.BACKOFF_BASE_SECONDS,
    backoffMaxSeconds: e.BACKOFF_MAX_SECONDS,
    idempotencyWindowSeconds: Math.floor(e.IDEMPOTENCY_WINDOW_HOURS * 3600),
    httpConnectTimeoutMs: e.HTTP_CONNECT_TIMEOUT_MS,
    httpTimeoutMs: e.HTTP_TIMEOUT_MS,
    outcomeTtlSeconds: e.OUTCOME_TTL_DAYS * 86_400,
    throttleThreshold: e.KYCERT_THROTTLE_THRESHOLD,
    rateLimitedSpendsAttempt: e.KYCERT_RATE_LIMITED_SPENDS_ATTEMPT === 'true',
    maxRateLimitResetSeconds: e.KYCERT_MAX_RATE_LIMIT_RESET_SECONDS,
    queueVisibilityTimeoutSeconds: e.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    rateLimit: {
      // The limit is configured per minute (as kycert's docs give it); the schedule wants it per window.
      limitPerWindow: (e.KYCERT_RATE_LIMIT_PER_MINUTE * e.KYCERT_RATE_LIMIT_WINDOW_SECONDS) / 60,
      windowSeconds: e.KYCERT_RATE_LIMIT_WINDOW_SECONDS,
      headroom: e.KYCERT_RATE_HEADROOM,
    },
    flowControl: {
      maxInFunctionWaitMs: e.KYCERT_MAX_IN_FUNCTION_WAIT_MS,
      pauseBudgetMs: e.KYCERT_PAUSE_BUDGET_HOURS * 3_600_000,
      probeBaseMs: e.KYCERT_PROBE_BASE_SECONDS * 1000,
      probeMaxMs: e.KYCERT_PROBE_MAX_SECONDS * 1000,
      apiKeyPattern: new RegExp(e.KYCERT_API_KEY_PATTERN),
    },
    stage: e.KYCERT_QUEUE_STAGE,
    statusChecks:
      e.STATUS_CHECK_QUEUE_URL === undefined
        ? undefined
        : {
            queueUrl: e.STATUS_CHECK_QUEUE_URL,
            maxIntervalSeconds: e.STATUS_CHECK_MAX_INTERVAL_SECONDS,
            defaultFirstDelaySeconds: e.STATUS_CHECK_DEFAULT_FIRST_DELAY_SECONDS,
            overdueAfterSeconds: e.DECISION_OVERDUE_HOURS * 3600,
            webhooksEnabled: e.KYCERT_WEBHOOKS_ENABLED === 'true',
            webhookGraceSeconds: e.STATUS_CHECK_WEBHOOK_GRACE_SECONDS,
          },
    decisionEventBusName: e.DECISION_EVENT_BUS_NAME,
  };
}
