import { z } from 'zod';
import { KYCERT_DEFAULT_BASE_URL, maxReceiveCountFor } from './constants.js';

/**
 * The worker's configuration, read once per cold start from the environment.
 * Every variable is documented in the README ("Configuration"); the CDK construct sets them from its props.
 */
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const EnvSchema = z
  .object({
    KYCERT_BASE_URL: z.url({ protocol: /^https?$/ }).default(KYCERT_DEFAULT_BASE_URL),
    /** Optional pin sent as `x-kycert-api-version`. */
    KYCERT_API_VERSION: z.string().min(1).optional(),
    /** Secrets Manager secret id (name or ARN) holding the API key; the usual way in AWS. */
    KYCERT_API_KEY_SECRET_ID: z.string().min(1).optional(),
    /** The API key itself; for local runs only. Takes precedence over the secret when both are set. */
    KYCERT_API_KEY: z.string().min(1).optional(),
    /** How long the API key is cached before it is read again. @default 300 s */
    KYCERT_API_KEY_CACHE_SECONDS: positiveInt(300),
    OUTCOME_TABLE_NAME: z.string().min(1),
    QUEUE_URL: z.url(),
    DEAD_LETTER_QUEUE_URL: z.url(),
    /** POSTs allowed per idempotency key, the first included. @default 12 */
    MAX_ATTEMPTS: positiveInt(12),
    /** Must equal the queue's redrive `maxReceiveCount`. @default MAX_ATTEMPTS + 3 */
    MAX_RECEIVE_COUNT: z.coerce.number().int().positive().optional(),
    /** First backoff delay after a 5xx or network error; doubles each attempt. @default 1 s (kycert's docs) */
    BACKOFF_BASE_SECONDS: positiveInt(1),
    /** Ceiling of the backoff delay. @default 900 s */
    BACKOFF_MAX_SECONDS: positiveInt(900),
    /** No POST is sent later than this after a key's first attempt (kycert forgets keys after 24 h). @default 22 h */
    IDEMPOTENCY_WINDOW_HOURS: z.coerce.number().positive().max(23).default(22),
    /** Connection timeout towards kycert. @default 3000 ms */
    HTTP_CONNECT_TIMEOUT_MS: positiveInt(3_000),
    /** Time allowed for kycert's response headers, and between body chunks. @default 10000 ms */
    HTTP_TIMEOUT_MS: positiveInt(10_000),
    /** Pace calls once kycert's X-RateLimit-Remaining drops under this share of the limit; 0 disables. @default 0.15 */
    KYCERT_THROTTLE_THRESHOLD: z.coerce.number().min(0).max(1).default(0.15),
    /** How long an outcome item is kept before DynamoDB's TTL removes it. @default 30 days */
    OUTCOME_TTL_DAYS: positiveInt(30),
    /** The `stage` dimension of every metric; the CDK construct sets the stack's stage. @default 'local' */
    KYCERT_QUEUE_STAGE: z.string().min(1).default('local'),
  })
  .refine((env) => env.MAX_RECEIVE_COUNT === undefined || env.MAX_RECEIVE_COUNT > env.MAX_ATTEMPTS, {
    message:
      'must be greater than MAX_ATTEMPTS, or the queue would dead-letter before the worker can say why',
    path: ['MAX_RECEIVE_COUNT'],
  })
  .refine((env) => env.KYCERT_API_KEY !== undefined || env.KYCERT_API_KEY_SECRET_ID !== undefined, {
    message: 'set KYCERT_API_KEY_SECRET_ID (or KYCERT_API_KEY for local runs)',
    path: ['KYCERT_API_KEY_SECRET_ID'],
  });

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
  backoffBaseSeconds: number;
  backoffMaxSeconds: number;
  idempotencyWindowSeconds: number;
  httpConnectTimeoutMs: number;
  httpTimeoutMs: number;
  outcomeTtlSeconds: number;
  throttleThreshold: number;
  stage: string;
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
    maxReceiveCount: e.MAX_RECEIVE_COUNT ?? maxReceiveCountFor(e.MAX_ATTEMPTS),
    backoffBaseSeconds: e.BACKOFF_BASE_SECONDS,
    backoffMaxSeconds: e.BACKOFF_MAX_SECONDS,
    idempotencyWindowSeconds: Math.floor(e.IDEMPOTENCY_WINDOW_HOURS * 3600),
    httpConnectTimeoutMs: e.HTTP_CONNECT_TIMEOUT_MS,
    httpTimeoutMs: e.HTTP_TIMEOUT_MS,
    outcomeTtlSeconds: e.OUTCOME_TTL_DAYS * 86_400,
    throttleThreshold: e.KYCERT_THROTTLE_THRESHOLD,
    stage: e.KYCERT_QUEUE_STAGE,
  };
}
