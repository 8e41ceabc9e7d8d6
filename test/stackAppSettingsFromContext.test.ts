import { describe, expect, it } from 'vitest';
import { appSettingsFromContext } from '../lib/appSettingsFromContext.js';

const fromContext = (context: Record<string, unknown>) => appSettingsFromContext((key) => context[key]);

describe('appSettingsFromContext', () => {
  it('without context: stage prod, environment-agnostic, every prop left to its default', () => {
    const settings = fromContext({});
    expect(settings.stackName).toBe('kycert-queue-prod');
    expect(settings.env).toBeUndefined();
    expect(Object.entries(settings.props).filter(([, value]) => value !== undefined)).toEqual([
      ['stageName', 'prod'],
    ]);
  });

  it('reads `-c key=value` strings and cdk.json numbers alike', () => {
    const settings = fromContext({
      stage: 'staging',
      account: '123456789012',
      region: 'sa-east-1',
      rateLimitPerMinute: '120',
      maxAttempts: 8,
      secondsPerRecord: '1.5',
      alarmEmail: 'oncall@example.com',
      apiKeySecretName: 'team/kycert',
      kycertBaseUrl: 'https://sandbox.example.com/api/v1',
    });
    expect(settings.stackName).toBe('kycert-queue-staging');
    expect(settings.env).toEqual({ account: '123456789012', region: 'sa-east-1' });
    expect(settings.props).toMatchObject({
      stageName: 'staging',
      rateLimitPerMinute: 120,
      maxAttempts: 8,
      secondsPerRecord: 1.5,
      alarmEmail: 'oncall@example.com',
      apiKeySecretName: 'team/kycert',
      kycertBaseUrl: 'https://sandbox.example.com/api/v1',
    });
  });

  it('reads an existing secret by ARN and its KMS key', () => {
    const settings = fromContext({
      apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf',
      apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    expect(settings.props).toMatchObject({
      apiKeySecretArn: 'arn:aws:secretsmanager:sa-east-1:123456789012:secret:team/kycert-AbCdEf',
      apiKeySecretKmsKeyArn: 'arn:aws:kms:sa-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
  });

  it('treats an empty value as unset', () => {
    expect(fromContext({ alarmEmail: '' }).props.alarmEmail).toBeUndefined();
  });

  it('names the keys it cannot use', () => {
    expect(() => fromContext({ maxAttempts: 'twelve', kycertBaseUrl: 'http://kycert.example.com' })).toThrow(
      /invalid CDK context for kycert-queue: kycertBaseUrl: .*; maxAttempts: /,
    );
  });
});
