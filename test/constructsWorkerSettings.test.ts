import { describe, expect, it } from 'vitest';
import { loadConfig } from '../functions/kycert-worker/config.js';
import {
  DEFAULT_WORKER_SETTINGS,
  resolveWorkerSettings,
  type WorkerResources,
  workerEnvironment,
} from '../lib/workerSettings.js';

const resources: WorkerResources = {
  queueUrl: 'https://sqs.sa-east-1.amazonaws.com/123456789012/requests',
  deadLetterQueueUrl: 'https://sqs.sa-east-1.amazonaws.com/123456789012/requests-dlq',
  outcomeTableName: 'outcomes',
  apiKeySecretId: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:kycert-AbCdEf',
  stageName: 'staging',
  queueVisibilityTimeoutSeconds: 360,
  queueRetentionSeconds: 4 * 86_400,
};

describe('workerEnvironment', () => {
  it('with the default settings, the worker reads exactly its own defaults (the two cannot drift)', () => {
    // Prepare: only what the worker requires, so every other value is the worker's default
    const requiredOnly = {
      OUTCOME_TABLE_NAME: resources.outcomeTableName,
      QUEUE_URL: resources.queueUrl,
      DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
      KYCERT_API_KEY_SECRET_ID: resources.apiKeySecretId,
      KYCERT_QUEUE_STAGE: resources.stageName,
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(resources.queueVisibilityTimeoutSeconds),
      QUEUE_RETENTION_SECONDS: String(resources.queueRetentionSeconds),
    };
    // Act
    const fromConstruct = loadConfig(workerEnvironment(DEFAULT_WORKER_SETTINGS, resources));
    // Assess
    expect(fromConstruct).toEqual(loadConfig(requiredOnly));
  });

  it('carries overrides through, with MAX_RECEIVE_COUNT derived from MAX_ATTEMPTS', () => {
    const settings = resolveWorkerSettings({
      maxAttempts: 4,
      backoffMaxSeconds: 120,
      idempotencyWindowHours: 6,
      kycertApiVersion: '2026-01-01',
    });
    const config = loadConfig(workerEnvironment(settings, resources));
    expect(config).toMatchObject({
      maxAttempts: 4,
      maxReceiveCount: 500,
      backoffMaxSeconds: 120,
      idempotencyWindowSeconds: 6 * 3600,
      kycertApiVersion: '2026-01-01',
      apiKey: { kind: 'secret', secretId: resources.apiKeySecretId },
      stage: 'staging',
    });
  });

  it('follows runs when given the checks queue, with the worker’s own defaults for the schedule', () => {
    const checksQueueUrl = 'https://sqs.sa-east-1.amazonaws.com/123456789012/status-checks';
    const config = loadConfig(
      workerEnvironment(DEFAULT_WORKER_SETTINGS, { ...resources, statusCheckQueueUrl: checksQueueUrl }),
    );
    const workerDefaults = loadConfig({
      OUTCOME_TABLE_NAME: resources.outcomeTableName,
      QUEUE_URL: resources.queueUrl,
      DEAD_LETTER_QUEUE_URL: resources.deadLetterQueueUrl,
      KYCERT_API_KEY_SECRET_ID: resources.apiKeySecretId,
      STATUS_CHECK_QUEUE_URL: checksQueueUrl,
    });
    expect(config.statusChecks).toEqual(workerDefaults.statusChecks);
    expect(config.statusChecks?.queueUrl).toBe(checksQueueUrl);
    expect(config).toMatchObject({ queueVisibilityTimeoutSeconds: 360, queueRetentionSeconds: 4 * 86_400 });
  });

  it('never carries the API key itself', () => {
    const environment = workerEnvironment(DEFAULT_WORKER_SETTINGS, resources);
    expect(environment).not.toHaveProperty('KYCERT_API_KEY');
    expect(environment).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'kycert-queue',
      KYCERT_RATE_LIMIT_PER_MINUTE: String(DEFAULT_WORKER_SETTINGS.rateLimitPerMinute),
    });
  });
});

describe('resolveWorkerSettings', () => {
  it('keeps defaults for props left undefined', () => {
    expect(resolveWorkerSettings({ maxAttempts: undefined, rateLimitPerMinute: 120 })).toEqual({
      ...DEFAULT_WORKER_SETTINGS,
      rateLimitPerMinute: 120,
    });
  });

  it('refuses a backoff or probe base above its ceiling, as the worker would at its cold start', () => {
    expect(() => resolveWorkerSettings({ backoffBaseSeconds: 60, backoffMaxSeconds: 30 })).toThrow(
      'backoffBaseSeconds (60) must not be greater than backoffMaxSeconds (30)',
    );
    expect(() => resolveWorkerSettings({ probeBaseSeconds: 600 })).toThrow(
      'probeBaseSeconds (600) must not be greater than probeMaxSeconds (300)',
    );
  });

  it('names every bad prop at once', () => {
    expect(() => resolveWorkerSettings({ httpTimeoutMs: -1, throttleThreshold: 2 })).toThrow(
      'invalid kycert-queue settings: httpTimeoutMs must be a positive integer, got -1; throttleThreshold must be in [0, 1], got 2',
    );
  });
});
