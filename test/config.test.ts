import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../functions/kycert-worker/config.js';

const QUEUE_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests';
const DEAD_LETTER_QUEUE_URL = 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-requests-dlq';

/** The variables the worker cannot do without. */
const requiredEnv = (): NodeJS.ProcessEnv => ({
  OUTCOME_TABLE_NAME: 'kycert-outcomes',
  QUEUE_URL,
  DEAD_LETTER_QUEUE_URL,
  KYCERT_API_KEY_SECRET_ID: 'kycert-queue/api-key',
});

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    // Act
    const config = loadConfig(requiredEnv());

    // Assess
    expect(config).toEqual({
      kycertBaseUrl: 'https://admin.kycert.com.br/api/v1',
      kycertApiVersion: undefined,
      apiKey: { kind: 'secret', secretId: 'kycert-queue/api-key' },
      apiKeyCacheSeconds: 300,
      outcomeTableName: 'kycert-outcomes',
      queueUrl: QUEUE_URL,
      deadLetterQueueUrl: DEAD_LETTER_QUEUE_URL,
      maxAttempts: 12,
      maxReceiveCount: 500,
      queueRetentionSeconds: 345_600,
      backoffBaseSeconds: 1,
      backoffMaxSeconds: 900,
      idempotencyWindowSeconds: 22 * 3600,
      httpConnectTimeoutMs: 3000,
      httpTimeoutMs: 10_000,
      outcomeTtlSeconds: 30 * 86_400,
      throttleThreshold: 0.15,
      maxRateLimitResetSeconds: 3600,
      queueVisibilityTimeoutSeconds: 5400,
      rateLimit: { limitPerWindow: 60, windowSeconds: 60, headroom: 0.03 },
      flowControl: {
        maxInFunctionWaitMs: 1000,
        pauseBudgetMs: 24 * 3_600_000,
        probeBaseMs: 30_000,
        probeMaxMs: 300_000,
        apiKeyPattern: /^sk_(test|live)_/,
      },
      rateLimitedSpendsAttempt: false,
      stage: 'local',
      statusChecks: undefined,
      decisionEventBusName: undefined,
    });
  });

  it('reads every override, converting hours and days to seconds', () => {
    // Prepare
    const env = {
      ...requiredEnv(),
      KYCERT_BASE_URL: 'http://127.0.0.1:4010/api/v1//',
      KYCERT_API_VERSION: '2026-10-01',
      KYCERT_API_KEY_CACHE_SECONDS: '60',
      MAX_ATTEMPTS: '5',
      MAX_RECEIVE_COUNT: '20',
      BACKOFF_BASE_SECONDS: '2',
      BACKOFF_MAX_SECONDS: '600',
      IDEMPOTENCY_WINDOW_HOURS: '12.5',
      HTTP_CONNECT_TIMEOUT_MS: '1500',
      HTTP_TIMEOUT_MS: '8000',
      OUTCOME_TTL_DAYS: '7',
      KYCERT_THROTTLE_THRESHOLD: '0.25',
      KYCERT_MAX_RATE_LIMIT_RESET_SECONDS: '120',
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: '360',
      QUEUE_RETENTION_SECONDS: '172800',
      KYCERT_RATE_LIMIT_PER_MINUTE: '600',
      KYCERT_RATE_LIMIT_WINDOW_SECONDS: '3',
      KYCERT_RATE_HEADROOM: '0.05',
      KYCERT_MAX_IN_FUNCTION_WAIT_MS: '300',
      KYCERT_PAUSE_BUDGET_HOURS: '12',
      KYCERT_PROBE_BASE_SECONDS: '1',
      KYCERT_PROBE_MAX_SECONDS: '5',
      KYCERT_API_KEY_PATTERN: '^sk_',
      KYCERT_RATE_LIMITED_SPENDS_ATTEMPT: 'true',
      KYCERT_QUEUE_STAGE: 'staging',
      STATUS_CHECK_QUEUE_URL: 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-status-checks',
      STATUS_CHECK_MAX_INTERVAL_SECONDS: '300',
      STATUS_CHECK_DEFAULT_FIRST_DELAY_SECONDS: '5',
      DECISION_OVERDUE_HOURS: '6',
      KYCERT_WEBHOOKS_ENABLED: 'true',
      STATUS_CHECK_WEBHOOK_GRACE_SECONDS: '20',
      DECISION_EVENT_BUS_NAME: 'kycert-decisions',
    };

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config).toEqual({
      kycertBaseUrl: 'http://127.0.0.1:4010/api/v1',
      kycertApiVersion: '2026-10-01',
      apiKey: { kind: 'secret', secretId: 'kycert-queue/api-key' },
      apiKeyCacheSeconds: 60,
      outcomeTableName: 'kycert-outcomes',
      queueUrl: QUEUE_URL,
      deadLetterQueueUrl: DEAD_LETTER_QUEUE_URL,
      maxAttempts: 5,
      maxReceiveCount: 20,
      backoffBaseSeconds: 2,
      backoffMaxSeconds: 600,
      idempotencyWindowSeconds: 45_000,
      httpConnectTimeoutMs: 1500,
      httpTimeoutMs: 8000,
      outcomeTtlSeconds: 7 * 86_400,
      throttleThreshold: 0.25,
      maxRateLimitResetSeconds: 120,
      queueVisibilityTimeoutSeconds: 360,
      queueRetentionSeconds: 172_800,
      rateLimit: { limitPerWindow: 30, windowSeconds: 3, headroom: 0.05 },
      flowControl: {
        maxInFunctionWaitMs: 300,
        pauseBudgetMs: 12 * 3_600_000,
        probeBaseMs: 1_000,
        probeMaxMs: 5_000,
        apiKeyPattern: /^sk_/,
      },
      rateLimitedSpendsAttempt: true,
      stage: 'staging',
      statusChecks: {
        queueUrl: 'https://sqs.sa-east-1.amazonaws.com/123456789012/kycert-status-checks',
        maxIntervalSeconds: 300,
        defaultFirstDelaySeconds: 5,
        overdueAfterSeconds: 6 * 3600,
        webhooksEnabled: true,
        webhookGraceSeconds: 20,
      },
      decisionEventBusName: 'kycert-decisions',
    });
  });

  it('accepts KYCERT_THROTTLE_THRESHOLD=0, which disables the proactive throttle', () => {
    // Act
    const config = loadConfig({ ...requiredEnv(), KYCERT_THROTTLE_THRESHOLD: '0' });

    // Assess
    expect(config.throttleThreshold).toBe(0);
  });

  it('prefers KYCERT_API_KEY over the secret when both are set', () => {
    // Act
    const config = loadConfig({ ...requiredEnv(), KYCERT_API_KEY: 'sk_test_local' });

    // Assess
    expect(config.apiKey).toEqual({ kind: 'env', value: 'sk_test_local' });
  });

  it('accepts KYCERT_API_KEY alone', () => {
    // Prepare
    const { KYCERT_API_KEY_SECRET_ID: _secretId, ...env } = requiredEnv();

    // Act
    const config = loadConfig({ ...env, KYCERT_API_KEY: 'sk_test_local' });

    // Assess
    expect(config.apiKey).toEqual({ kind: 'env', value: 'sk_test_local' });
  });

  it('the redrive maxReceiveCount defaults to 500, the safety net far above what the worker reaches', () => {
    expect(loadConfig(requiredEnv()).maxReceiveCount).toBe(500);
  });

  it.each([
    [
      { BACKOFF_BASE_SECONDS: '10', BACKOFF_MAX_SECONDS: '5' },
      'BACKOFF_BASE_SECONDS: must not be greater than BACKOFF_MAX_SECONDS',
    ],
    [
      { KYCERT_PROBE_BASE_SECONDS: '60', KYCERT_PROBE_MAX_SECONDS: '30' },
      'KYCERT_PROBE_BASE_SECONDS: must not be greater than KYCERT_PROBE_MAX_SECONDS',
    ],
    [
      { KYCERT_PAUSE_BUDGET_HOURS: '72', QUEUE_RETENTION_SECONDS: '86400' },
      'KYCERT_PAUSE_BUDGET_HOURS: must stay below the queue retention',
    ],
    [{ KYCERT_API_KEY_PATTERN: '(' }, 'KYCERT_API_KEY_PATTERN: must be a valid regular expression'],
  ])('refuses %o, naming the setting and the rule', (bad, message) => {
    expect(() => loadConfig({ ...requiredEnv(), ...bad })).toThrow(message);
  });

  it('names OUTCOME_TABLE_NAME when it is missing', () => {
    // Prepare
    const { OUTCOME_TABLE_NAME: _table, ...env } = requiredEnv();

    // Act
    const load = () => loadConfig(env);

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      'invalid worker configuration: OUTCOME_TABLE_NAME: Invalid input: expected string, received undefined',
    );
  });

  it('asks for the secret id when neither the key nor the secret id is set', () => {
    // Prepare
    const { KYCERT_API_KEY_SECRET_ID: _secretId, ...env } = requiredEnv();

    // Act
    const load = () => loadConfig(env);

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      'invalid worker configuration: KYCERT_API_KEY_SECRET_ID: set KYCERT_API_KEY_SECRET_ID (or KYCERT_API_KEY for local runs)',
    );
  });

  it.each([
    ['KYCERT_BASE_URL', 'admin.kycert.com.br/api/v1'],
    ['KYCERT_BASE_URL', 'ftp://admin.kycert.com.br/api/v1'],
    ['QUEUE_URL', 'kycert-requests'],
    ['DEAD_LETTER_QUEUE_URL', 'not a url'],
  ])('names %s when it is not a valid URL (%s)', (variable, value) => {
    // Act
    const load = () => loadConfig({ ...requiredEnv(), [variable]: value });

    // Assess
    expect(load).toThrow(`invalid worker configuration: ${variable}: Invalid URL`);
  });

  it.each([
    ['MAX_ATTEMPTS', '0'],
    ['MAX_ATTEMPTS', '2.5'],
    ['MAX_ATTEMPTS', 'twelve'],
    ['HTTP_TIMEOUT_MS', '-1'],
    ['IDEMPOTENCY_WINDOW_HOURS', '25'],
    ['KYCERT_THROTTLE_THRESHOLD', '1.5'],
    ['KYCERT_THROTTLE_THRESHOLD', '-0.1'],
  ])('names %s when its value %s is out of range', (variable, value) => {
    // Act
    const load = () => loadConfig({ ...requiredEnv(), [variable]: value });

    // Assess
    expect(load).toThrow(new RegExp(`^invalid worker configuration: ${variable}: `));
  });

  it('reports every problem at once', () => {
    // Act
    const load = () =>
      loadConfig({ ...requiredEnv(), QUEUE_URL: 'nope', MAX_ATTEMPTS: '0', KYCERT_BASE_URL: 'nope' });

    // Assess
    expect(load).toThrow(/KYCERT_BASE_URL: Invalid URL; QUEUE_URL: Invalid URL; MAX_ATTEMPTS: /);
  });
});
