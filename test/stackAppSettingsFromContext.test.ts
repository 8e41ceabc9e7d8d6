import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { appSettingsFromContext } from '../lib/appSettingsFromContext.js';
import { InvalidSettingsError } from '../lib/errors.js';

const problemsOf = (context: Record<string, unknown>): readonly string[] => {
  try {
    appSettingsFromContext(context);
  } catch (error) {
    if (error instanceof InvalidSettingsError) return error.problems;
    throw error;
  }
  throw new Error('expected InvalidSettingsError');
};

describe('appSettingsFromContext', () => {
  it('without context: stage dev (never prod by omission), environment-agnostic, every prop left to its default', () => {
    const settings = appSettingsFromContext({});
    expect(settings.stackName).toBe('kycert-queue-dev');
    expect(settings.env).toBeUndefined();
    expect(Object.entries(settings.props).filter(([, value]) => value !== undefined)).toEqual([
      ['stageName', 'dev'],
    ]);
  });

  it('reads `-c key=value` strings and cdk.json numbers alike', () => {
    const settings = appSettingsFromContext({
      stage: 'prod',
      account: '123456789012',
      region: 'sa-east-1',
      rateLimitPerMinute: '120',
      maxAttempts: 8,
      secondsPerRecord: '1.5',
      alarmEmail: 'oncall@example.com',
      apiKeySecretName: 'team/kycert',
      kycertBaseUrl: 'https://sandbox.example.com/api/v1',
    });
    expect(settings.stackName).toBe('kycert-queue-prod');
    expect(settings.env).toEqual({ account: '123456789012', region: 'sa-east-1' });
    expect(settings.props).toMatchObject({
      stageName: 'prod',
      rateLimitPerMinute: 120,
      maxAttempts: 8,
      secondsPerRecord: 1.5,
      alarmEmail: 'oncall@example.com',
      apiKeySecretName: 'team/kycert',
      kycertBaseUrl: 'https://sandbox.example.com/api/v1',
    });
  });

  it.each([
    ['false', false],
    [false, false],
    ['8', 8],
    [8, 8],
  ])('reads reservedConcurrency=%j as %j', (raw, expected) => {
    expect(appSettingsFromContext({ reservedConcurrency: raw }).props.reservedConcurrency).toBe(expected);
  });

  it.each([
    [{ webhooks: 'true' }, { enabled: true }],
    [{ webhooks: false }, { enabled: false }],
    [
      { webhooks: 'true', webhookSignatureHeader: 'X-Kycert-Signature' },
      { enabled: true, signatureHeaderName: 'X-Kycert-Signature' },
    ],
  ])('reads the webhook context %j as the webhooks prop %j', (context, webhooks) => {
    expect(appSettingsFromContext(context).props.webhooks).toEqual(webhooks);
  });

  it('reads createDecisionEventBus and outcomeIndexUpgradeStep as the CLI gives them', () => {
    expect(
      appSettingsFromContext({ createDecisionEventBus: 'true', outcomeIndexUpgradeStep: '2' }).props,
    ).toMatchObject({
      createDecisionEventBus: true,
      outcomeIndexUpgradeStep: 2,
    });
  });

  it('reads an existing secret by ARN and its KMS key', () => {
    const settings = appSettingsFromContext({
      apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf',
      apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    expect(settings.props).toMatchObject({
      apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf',
      apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
  });

  it('treats an empty value as unset, and leaves the CDK’s own keys alone', () => {
    const settings = appSettingsFromContext({
      alarmEmail: '',
      '@aws-cdk/core:target-partitions': ['aws', 'aws-cn'],
      'aws:cdk:enable-path-metadata': true,
      'availability-zones:account=123456789012:region=sa-east-1': ['sa-east-1a'],
    });
    expect(settings.props.alarmEmail).toBeUndefined();
  });

  it.each([
    ['ratelimitperminute', 'did you mean "rateLimitPerMinute"?'],
    ['maxAttempt', 'did you mean "maxAttempts"?'],
    ['stg', 'did you mean "stage"?'],
    ['owner', ''],
  ])('refuses the unknown key %s, naming the right one when it is close', (key, suggestion) => {
    expect(problemsOf({ [key]: '120' })).toEqual([
      `unknown context key "${key}": ${suggestion === '' ? '' : `${suggestion} `}the keys are stage, account, region, kycertBaseUrl, kycertApiVersion, rateLimitPerMinute, maxAttempts, alarmEmail, apiKeySecretName, apiKeySecretArn, apiKeySecretKmsKeyArn, secondsPerRecord, reservedConcurrency, webhooks, webhookSignatureHeader, createDecisionEventBus, outcomeIndexUpgradeStep`,
    ]);
  });

  it.each([
    [
      'kycertBaseUrl',
      'http://kycert.example.com',
      'https only: an https:// URL, such as https://admin.kycert.com.br/api/v1',
    ],
    ['maxAttempts', 'twelve', 'a whole number of POSTs per key, 1 or more'],
    ['rateLimitPerMinute', '0', 'a whole number of requests per minute, 1 or more'],
    [
      'stage',
      'Prod',
      'a lowercase letter, then up to 23 lowercase letters, digits or "-" (dev, staging, prod…)',
    ],
    ['account', '1234', 'a 12-digit AWS account id'],
    ['region', 'brazil', 'an AWS region, such as sa-east-1'],
    ['alarmEmail', 'oncall', 'an e-mail address'],
    ['secondsPerRecord', '-1', 'a number of seconds above 0, such as 1.5'],
    [
      'reservedConcurrency',
      'none',
      'a whole number of concurrent executions, 1 or more, or false to reserve none',
    ],
    ['webhooks', 'yes', 'true (create the webhook receiver) or false'],
    [
      'webhookSignatureHeader',
      'kycert signature',
      'a header name: letters, digits and "-", such as kycert-signature',
    ],
    ['createDecisionEventBus', 'maybe', 'true (a bus of its own for the decision events) or false'],
    [
      'outcomeIndexUpgradeStep',
      '3',
      '1 or 2, the step of the outcome table index upgrade (docs/deploy.md), or absent',
    ],
  ])('a bad %s=%s is one line naming the setting and the rule', (key, value, rule) => {
    expect(problemsOf({ [key]: value })).toEqual([`context ${key}="${value}": ${key} must be ${rule}`]);
  });

  it('names every problem at once', () => {
    expect(problemsOf({ maxAttempts: 'twelve', kycertBaseUrl: 'http://x', ratelimit: 1 })).toHaveLength(3);
  });
});

describe('the app (bin/kycert-queue.ts) given bad context', () => {
  it('prints one line per problem, no stack trace, and exits 1', async () => {
    // Prepare: the CDK CLI hands `-c` values to the app in CDK_CONTEXT_JSON.
    const context = { ratelimitperminute: '120', maxAttempts: 'twelve' };

    // Act
    const run = await promisify(execFile)('node_modules/.bin/tsx', ['bin/kycert-queue.ts'], {
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context) },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^kycert-queue: unknown context key "ratelimitperminute": did you mean "rateLimitPerMinute"\?/,
      ),
      'kycert-queue: context maxAttempts="twelve": maxAttempts must be a whole number of POSTs per key, 1 or more',
    ]);
  });
});
