import { Metrics } from '@aws-lambda-powertools/metrics';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { daysSinceLastChange } from '../functions/api-key-age-check/daysSinceLastChange.js';
import { createApiKeyAgeCheck, createApiKeyAgeCheckFromEnv } from '../functions/api-key-age-check/handler.js';
import { type CapturedOutput, captureOutput } from './support/capturedOutput.js';

const NOW_MS = Date.parse('2026-12-01T12:00:00.000Z');
const SECRET_ARN = 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:kycert-queue-prod-ApiKey-AbCdEf';

describe('daysSinceLastChange', () => {
  it.each<[string, { createdDate?: Date; lastChangedDate?: Date }, number | undefined]>([
    ['changed 90 days ago to the millisecond', { lastChangedDate: new Date(NOW_MS - 90 * 86_400_000) }, 90],
    [
      'changed 89 days and 23 h ago: not yet 90',
      { lastChangedDate: new Date(NOW_MS - 90 * 86_400_000 + 3_600_000) },
      89,
    ],
    ['changed today', { lastChangedDate: new Date(NOW_MS - 60_000) }, 0],
    [
      'never changed: counted from its creation (a placeholder nobody replaced)',
      { createdDate: new Date(NOW_MS - 120 * 86_400_000) },
      120,
    ],
    [
      'changed after its creation: the change counts',
      {
        createdDate: new Date(NOW_MS - 400 * 86_400_000),
        lastChangedDate: new Date(NOW_MS - 3 * 86_400_000),
      },
      3,
    ],
    [
      'a date in the future (clock skew): 0, never negative',
      { lastChangedDate: new Date(NOW_MS + 3_600_000) },
      0,
    ],
    ['no dates at all', {}, undefined],
  ])('%s', (_name, dates, expected) => {
    expect(daysSinceLastChange(dates, NOW_MS)).toBe(expected);
  });
});

describe('the API key age check', () => {
  const secretsManager = mockClient(SecretsManagerClient);
  let output: CapturedOutput;

  beforeEach(() => {
    secretsManager.reset();
    output = captureOutput();
  });
  afterEach(() => vi.restoreAllMocks());

  const check = () =>
    createApiKeyAgeCheck({
      secretsManager: new SecretsManagerClient({ region: 'sa-east-1' }),
      metrics: new Metrics({
        namespace: 'KycertQueue',
        serviceName: 'kycert-queue',
        defaultDimensions: { stage: 'staging' },
      }),
      secretId: SECRET_ARN,
      nowMs: () => NOW_MS,
    });

  it('describes the secret, never reads its value, and emits the days as EMF with service and stage', async () => {
    // Prepare
    secretsManager.on(DescribeSecretCommand).resolves({
      Name: 'kycert-queue-prod-ApiKey',
      CreatedDate: new Date(NOW_MS - 200 * 86_400_000),
      LastChangedDate: new Date(NOW_MS - 91 * 86_400_000),
    });
    // Act
    const result = await check()();
    // Assess
    expect(result).toEqual({ daysSinceLastChange: 91 });
    expect(secretsManager).toHaveReceivedCommandWith(DescribeSecretCommand, { SecretId: SECRET_ARN });
    expect(secretsManager.calls()).toHaveLength(1);
    const [document] = output.metrics();
    expect(document).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'KycertQueue',
            Dimensions: [['service', 'stage']],
            Metrics: [{ Name: 'ApiKeyDaysSinceLastChange', Unit: 'Count' }],
          },
        ],
      },
      service: 'kycert-queue',
      stage: 'staging',
      ApiKeyDaysSinceLastChange: 91,
    });
  });

  it('fails, emitting nothing, when DescribeSecret gives no dates: a made-up age would hide the problem', async () => {
    secretsManager.on(DescribeSecretCommand).resolves({ Name: 'kycert-queue-prod-ApiKey' });
    await expect(check()()).rejects.toThrow(`DescribeSecret gave no dates for secret ${SECRET_ARN}`);
    expect(output.metrics()).toEqual([]);
  });

  it('fails when Secrets Manager does (AccessDenied after an IAM change): the alarm then sees no data', async () => {
    secretsManager.on(DescribeSecretCommand).rejects(new Error('AccessDeniedException: not authorized'));
    await expect(check()()).rejects.toThrow('AccessDeniedException: not authorized');
    expect(output.metrics()).toEqual([]);
  });

  it('refuses to start without the secret id, naming the variable', () => {
    expect(() => createApiKeyAgeCheckFromEnv({})).toThrow(
      /invalid api-key-age-check configuration: KYCERT_API_KEY_SECRET_ID: /,
    );
  });
});
