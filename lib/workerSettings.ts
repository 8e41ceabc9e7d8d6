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
    KYCERT_THROTTLE_THRESHOLD: String(settings.throttleThreshold),
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
    KYCERT_QUEUE_STAGE: resources.stageName,
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: settings.logLevel,
    // The bundle ships its source map: stack traces in the logs then point at the TypeScript sources.
    NODE_OPTIONS: '--enable-source-maps',
  };
}
