import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { secretsManagerApiKey, staticApiKey } from '../functions/kycert-worker/apiKeySource.js';

const SECRET_ID = 'kycert-queue/api-key';
const secretsManager = mockClient(SecretsManagerClient);

beforeEach(() => {
  secretsManager.reset();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('staticApiKey', () => {
  it('returns the same key from get() and refresh()', async () => {
    // Prepare
    const source = staticApiKey('sk_test_local');

    // Act
    const keys = [await source.get(), await source.refresh()];

    // Assess
    expect(keys).toEqual(['sk_test_local', 'sk_test_local']);
  });
});

describe('secretsManagerApiKey', () => {
  it('reads the secret once and serves the next get() from its cache', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'sk_live_first' });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const keys = [await source.get(), await source.get()];

    // Assess
    expect(keys).toEqual(['sk_live_first', 'sk_live_first']);
    expect(secretsManager).toReceiveCommandExactlyOnceWith(GetSecretValueCommand, { SecretId: SECRET_ID });
  });

  it('reads the secret again once the cache is older than maxAgeSeconds', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-11-23T12:00:00.000Z') });
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'sk_live_first' })
      .resolvesOnce({ SecretString: 'sk_live_rotated' });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const first = await source.get();
    vi.setSystemTime(Date.parse('2026-11-23T12:04:59.000Z'));
    const withinMaxAge = await source.get();
    vi.setSystemTime(Date.parse('2026-11-23T12:05:01.000Z'));
    const afterMaxAge = await source.get();

    // Assess
    expect([first, withinMaxAge, afterMaxAge]).toEqual(['sk_live_first', 'sk_live_first', 'sk_live_rotated']);
    expect(secretsManager).toReceiveCommandTimes(GetSecretValueCommand, 2);
  });

  it('refresh() bypasses the cache, and the next get() sees the refreshed key', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: 'sk_live_old' })
      .resolvesOnce({ SecretString: 'sk_live_rotated' });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const keys = [await source.get(), await source.refresh(), await source.get()];

    // Assess
    expect(keys).toEqual(['sk_live_old', 'sk_live_rotated', 'sk_live_rotated']);
    expect(secretsManager).toReceiveCommandTimes(GetSecretValueCommand, 2);
  });

  it('reads the api_key field of a JSON secret', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ api_key: 'sk_live_json', note: 'rotated monthly' }) });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const key = await source.get();

    // Assess
    expect(key).toBe('sk_live_json');
  });

  it('trims whitespace around a plain secret', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: '  sk_live_padded\n' });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const key = await source.get();

    // Assess
    expect(key).toBe('sk_live_padded');
  });

  it('refuses a JSON secret without an api_key string', async () => {
    // Prepare
    secretsManager
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ apiKey: 'sk_live_x' }) });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const key = source.get();

    // Assess
    await expect(key).rejects.toThrow('secret kycert-queue/api-key is JSON but has no "api_key" string');
  });

  it.each([
    ['an empty SecretString', { SecretString: '' }],
    ['a binary secret', { SecretBinary: new TextEncoder().encode('sk_live_binary') }],
  ])('refuses %s with an error naming the secret', async (_what, response) => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves(response);
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300 });

    // Act
    const key = source.get();

    // Assess
    await expect(key).rejects.toThrow(`secret ${SECRET_ID} has no string value`);
  });

  it('uses the provider it is given', async () => {
    // Prepare
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'sk_live_injected' });
    const provider = new SecretsProvider({ awsSdkV3Client: new SecretsManagerClient({}) });
    const source = secretsManagerApiKey({ secretId: SECRET_ID, maxAgeSeconds: 300, provider });

    // Act
    const key = await source.get();

    // Assess
    expect(key).toBe('sk_live_injected');
    expect(secretsManager).toReceiveCommandExactlyOnceWith(GetSecretValueCommand, { SecretId: SECRET_ID });
  });
});
