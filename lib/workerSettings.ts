import { Token } from 'aws-cdk-lib';
import {
  KYCERT_DEFAULT_BASE_URL,
  KYCERT_IDEMPOTENCY_KEY_TTL_HOURS,
  REDRIVE_MAX_RECEIVE_COUNT,
} from '../functions/kycert-worker/constants.js';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../functions/kycert-worker/metricNames.js';
import { InvalidSettingsError } from './errors.js';

/**
 * What the worker is told through its environment. Every field is optional on the construct, and the
 * defaults below are the worker's own (`functions/kycert-worker/config.ts`); a test loads the environment
 * built from them with the worker's `loadConfig` to keep the two from drifting.
 */
export interface WorkerSettings {
  /** kycert's API base URL, `https://` only. @default KYCERT_DEFAULT_BASE_URL (https://admin.kycert.com.br/api/v1) */
  readonly kycertBaseUrl: string;
  /** Pins `x-kycert-api-version`. @default none: kycert's current version */
  readonly kycertApiVersion?: string | undefined;
  /** kycert's rate limit for the API key; sizes the event source (see consumerConcurrency.ts). @default 60 requests/minute */
  readonly rateLimitPerMinute: number;
  /** POSTs allowed per idempotency key, the first included; also derives the redrive `maxReceiveCount`. @default 12 */
  readonly maxAttempts: number;
  /** How long the worker caches the API key (a 401 bypasses the cache). @default 300 s */
  readonly apiKeyCacheSeconds: number;
  /** First backoff delay after a 5xx or network error; doubles per attempt. @default 1 s */
  readonly backoffBaseSeconds: number;
  /** Backoff ceiling. @default 900 s */
  readonly backoffMaxSeconds: number;
  /** No POST later than this after a key's first attempt (kycert keeps keys 24 h). @default 22 h */
  readonly idempotencyWindowHours: number;
  /** Connection timeout towards kycert. @default 3000 ms */
  readonly httpConnectTimeoutMs: number;
  /** Response-headers timeout, and the longest pause between body chunks. @default 10000 ms */
  readonly httpTimeoutMs: number;
  /** Outcome items expire (DynamoDB TTL) this long after their last write. @default 30 days */
  readonly outcomeTtlDays: number;
  /** Pace calls once `X-RateLimit-Remaining` drops under this share of the limit; 0 disables. @default 0.15 */
  readonly throttleThreshold: number;
  /**
   * kycert's rate-limit window, in seconds. Its docs give the limit per minute; a tenant on another window
   * sets it here. @default 60
   */
  readonly rateLimitWindowSeconds: number;
  /** Share of the limit the shared schedule leaves unused, for other clients of the key and clock edges. @default 0.03 */
  readonly rateHeadroom: number;
  /** A slot at most this far away is waited for in the function; a later one goes through visibility (BENCHMARKS.md, P3). @default 1000 ms */
  readonly maxInFunctionWaitMs: number;
  /** A message paused by an account-level failure (402, 403, persisting 401) longer than this is dead-lettered. @default 24 h */
  readonly accountPauseBudgetHours: number;
  /** First wait before a probe of a blocked account; doubles per failed probe. @default 30 s */
  readonly probeBaseSeconds: number;
  /** Longest wait between two probes of a blocked account. @default 300 s */
  readonly probeMaxSeconds: number;
  /** Accepted runs are followed by status checks to their decision. @default true */
  readonly followRuns: boolean;
  /** The interval between status checks doubles up to this. @default 900 s */
  readonly statusCheckMaxIntervalSeconds: number;
  /** First status check this long after acceptance when kycert's 202 gives no estimate. @default 10 s */
  readonly statusCheckDefaultFirstDelaySeconds: number;
  /** A run without a decision this long after acceptance is recorded as `decision_overdue`. @default 24 h */
  readonly decisionOverdueHours: number;
  /** Powertools Logger level. @default 'INFO' */
  readonly logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = {
  kycertBaseUrl: KYCERT_DEFAULT_BASE_URL,
  rateLimitPerMinute: 60,
  maxAttempts: 12,
  apiKeyCacheSeconds: 300,
  backoffBaseSeconds: 1,
  backoffMaxSeconds: 900,
  idempotencyWindowHours: 22,
  httpConnectTimeoutMs: 3_000,
  httpTimeoutMs: 10_000,
  outcomeTtlDays: 30,
  throttleThreshold: 0.15,
  rateLimitWindowSeconds: 60,
  rateHeadroom: 0.03,
  maxInFunctionWaitMs: 1_000,
  accountPauseBudgetHours: 24,
  probeBaseSeconds: 30,
  probeMaxSeconds: 300,
  followRuns: true,
  statusCheckMaxIntervalSeconds: 900,
  statusCheckDefaultFirstDelaySeconds: 10,
  decisionOverdueHours: 24,
  logLevel: 'INFO',
};

/**
 * Merges the construct's props over the defaults and checks them at synth time, so a bad value fails
 * `cdk synth` with the prop's name rather than the worker's cold start after a deploy.
 */
export function resolveWorkerSettings(overrides: Partial<WorkerSettings>): WorkerSettings {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const settings: WorkerSettings = { ...DEFAULT_WORKER_SETTINGS, ...defined };
  const problems: string[] = [];
  if (
    !Token.isUnresolved(settings.kycertBaseUrl) &&
    !URL.parse(settings.kycertBaseUrl)?.protocol.startsWith('https')
  ) {
    problems.push(`kycertBaseUrl must be https only (an https:// URL), got "${settings.kycertBaseUrl}"`);
  }
  const positiveIntegers = [
    'rateLimitPerMinute',
    'maxAttempts',
    'apiKeyCacheSeconds',
    'backoffBaseSeconds',
    'backoffMaxSeconds',
    'httpConnectTimeoutMs',
    'httpTimeoutMs',
    'outcomeTtlDays',
    'probeBaseSeconds',
    'probeMaxSeconds',
    'statusCheckMaxIntervalSeconds',
    'statusCheckDefaultFirstDelaySeconds',
  ] as const;
  for (const name of positiveIntegers) {
    if (!Number.isInteger(settings[name]) || settings[name] <= 0) {
      problems.push(`${name} must be a positive integer, got ${settings[name]}`);
    }
  }
  if (
    !(
      settings.idempotencyWindowHours > 0 &&
      settings.idempotencyWindowHours <= KYCERT_IDEMPOTENCY_KEY_TTL_HOURS
    )
  ) {
    problems.push(
      `idempotencyWindowHours must be in (0, ${KYCERT_IDEMPOTENCY_KEY_TTL_HOURS}] (kycert forgets keys after ${KYCERT_IDEMPOTENCY_KEY_TTL_HOURS} h), got ${settings.idempotencyWindowHours}`,
    );
  }
  if (!(settings.throttleThreshold >= 0 && settings.throttleThreshold <= 1)) {
    problems.push(`throttleThreshold must be in [0, 1], got ${settings.throttleThreshold}`);
  }
  if (settings.backoffBaseSeconds > settings.backoffMaxSeconds) {
    problems.push(
      `backoffBaseSeconds (${settings.backoffBaseSeconds}) must not be greater than backoffMaxSeconds (${settings.backoffMaxSeconds})`,
    );
  }
  if (!(settings.rateLimitWindowSeconds > 0 && settings.rateLimitWindowSeconds <= 3600)) {
    problems.push(`rateLimitWindowSeconds must be in (0, 3600], got ${settings.rateLimitWindowSeconds}`);
  }
  if (!(settings.rateHeadroom >= 0 && settings.rateHeadroom <= 0.5)) {
    problems.push(`rateHeadroom must be in [0, 0.5], got ${settings.rateHeadroom}`);
  }
  if (
    !(
      Number.isInteger(settings.maxInFunctionWaitMs) &&
      settings.maxInFunctionWaitMs >= 0 &&
      settings.maxInFunctionWaitMs <= 10_000
    )
  ) {
    problems.push(
      `maxInFunctionWaitMs must be an integer in [0, 10000], got ${settings.maxInFunctionWaitMs}`,
    );
  }
  if (!(settings.accountPauseBudgetHours > 0 && settings.accountPauseBudgetHours <= 72)) {
    problems.push(`accountPauseBudgetHours must be in (0, 72], got ${settings.accountPauseBudgetHours}`);
  }
  if (settings.probeBaseSeconds > settings.probeMaxSeconds) {
    problems.push(
      `probeBaseSeconds (${settings.probeBaseSeconds}) must not be greater than probeMaxSeconds (${settings.probeMaxSeconds})`,
    );
  }
  if (!(settings.decisionOverdueHours > 0 && settings.decisionOverdueHours <= 72)) {
    problems.push(`decisionOverdueHours must be in (0, 72], got ${settings.decisionOverdueHours}`);
  }
  if (problems.length > 0) throw new InvalidSettingsError(problems);
  return settings;
}

/** The deployed resources the worker is pointed at. */
export interface WorkerResources {
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly outcomeTableName: string;
  /** Name or ARN of the Secrets Manager secret holding the API key; the key itself never is in the environment. */
  readonly apiKeySecretId: string;
  /** The stage: the `stage` dimension of every metric, so that two stages in one account never share a series. */
  readonly stageName: string;
  /** The status checks' queue; absent when runs are not followed. */
  readonly statusCheckQueueUrl?: string | undefined;
  /** The requests queue's visibility timeout: it bounds how long before an invocation its records were received. */
  readonly queueVisibilityTimeoutSeconds: number;
  /** The requests queue's retention: a message is dead-lettered as `message_expiring` before it. */
  readonly queueRetentionSeconds: number;
  /** The EventBridge bus decisions are published on (its ARN: PutEvents takes a name or an ARN). @default none published */
  readonly decisionEventBusName?: string | undefined;
  /** kycert sends webhooks to the stack's receiver: status checks are the safety net, starting later. @default false */
  readonly webhooksEnabled?: boolean | undefined;
}

/** The worker's environment. `MAX_RECEIVE_COUNT` comes from the same function as the queue's redrive policy. */
export function workerEnvironment(
  settings: WorkerSettings,
  resources: WorkerResources,
): Record<string, string> {
  return {
    KYCERT_BASE_URL: settings.kycertBaseUrl,
    ...(settings.kycertApiVersion === undefined ? {} : { KYCERT_API_VERSION: settings.kycertApiVersion }),
    KYCERT_API_KEY_SECRET_ID: resources.apiKeySecretId,
    KYCERT_API_KEY_CACHE_SECONDS: String(settings.apiKeyCacheSeconds),
    KYCERT_RATE_LIMIT_PER_MINUTE: String(settings.rateLimitPerMinute),
    KYCERT_RATE_LIMIT_WINDOW_SECONDS: String(settings.rateLimitWindowSeconds),
    KYCERT_RATE_HEADROOM: String(settings.rateHeadroom),
    KYCERT_THROTTLE_THRESHOLD: String(settings.throttleThreshold),
    KYCERT_MAX_IN_FUNCTION_WAIT_MS: String(settings.maxInFunctionWaitMs),
    KYCERT_PAUSE_BUDGET_HOURS: String(settings.accountPauseBudgetHours),
    KYCERT_PROBE_BASE_SECONDS: String(settings.probeBaseSeconds),
    KYCERT_PROBE_MAX_SECONDS: String(settings.probeMaxSeconds),
    OUTCOME_TABLE_NAME: resources.outcomeTableName,
    QUEUE_URL: resources.queueUrl,
    DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
    MAX_ATTEMPTS: String(settings.maxAttempts),
    MAX_RECEIVE_COUNT: String(REDRIVE_MAX_RECEIVE_COUNT),
    BACKOFF_BASE_SECONDS: String(settings.backoffBaseSeconds),
    BACKOFF_MAX_SECONDS: String(settings.backoffMaxSeconds),
    IDEMPOTENCY_WINDOW_HOURS: String(settings.idempotencyWindowHours),
    HTTP_CONNECT_TIMEOUT_MS: String(settings.httpConnectTimeoutMs),
    HTTP_TIMEOUT_MS: String(settings.httpTimeoutMs),
    OUTCOME_TTL_DAYS: String(settings.outcomeTtlDays),
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(resources.queueVisibilityTimeoutSeconds),
    QUEUE_RETENTION_SECONDS: String(resources.queueRetentionSeconds),
    ...(resources.statusCheckQueueUrl === undefined
      ? {}
      : {
          STATUS_CHECK_QUEUE_URL: resources.statusCheckQueueUrl,
          STATUS_CHECK_MAX_INTERVAL_SECONDS: String(settings.statusCheckMaxIntervalSeconds),
          STATUS_CHECK_DEFAULT_FIRST_DELAY_SECONDS: String(settings.statusCheckDefaultFirstDelaySeconds),
          DECISION_OVERDUE_HOURS: String(settings.decisionOverdueHours),
          KYCERT_WEBHOOKS_ENABLED: String(resources.webhooksEnabled === true),
        }),
    ...(resources.decisionEventBusName === undefined
      ? {}
      : { DECISION_EVENT_BUS_NAME: resources.decisionEventBusName }),
    KYCERT_QUEUE_STAGE: resources.stageName,
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: settings.logLevel,
    // The bundle ships its source map: stack traces in the logs then point at the TypeScript sources.
    NODE_OPTIONS: '--enable-source-maps',
  };
}
