import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';

/**
 * What the webhook secret holds. Its value is either one secret, `whsec_…` (what kycert gives when the endpoint
 * is registered), or, during a rotation, JSON with every secret to accept:
 *
 *   {"secrets": ["whsec_new…", "whsec_old…"]}
 *
 * Any other value is the stack's generated placeholder (or a mistake): webhooks are then refused with a 503,
 * so that kycert retries them once the operator has put the real secret (docs/deploy.md, "Webhooks").
 */
export type WebhookSecrets =
  | { kind: 'secrets'; secrets: readonly string[] }
  | { kind: 'unset'; problem: string };

const WEBHOOK_SECRET = /^whsec_\S+$/;

export function parseWebhookSecrets(value: unknown): WebhookSecrets {
  if (typeof value !== 'string' || value.trim() === '')
    return { kind: 'unset', problem: 'the secret has no value' };
  const text = value.trim();
  if (!text.startsWith('{')) {
    return WEBHOOK_SECRET.test(text)
      ? { kind: 'secrets', secrets: [text] }
      : {
          kind: 'unset',
          problem: 'the secret is not a whsec_… value (the placeholder the stack generated?)',
        };
  }
  let json: { secrets?: unknown };
  try {
    json = JSON.parse(text) as { secrets?: unknown };
  } catch {
    // Not the parser's message: it would quote the secret.
    return { kind: 'unset', problem: 'the secret starts with "{" but is not valid JSON' };
  }
  const secrets = json.secrets;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    return { kind: 'unset', problem: 'the secret is JSON without a non-empty "secrets" array' };
  }
  if (!secrets.every((secret) => typeof secret === 'string' && WEBHOOK_SECRET.test(secret.trim()))) {
    return { kind: 'unset', problem: 'every entry of "secrets" must be a whsec_… string' };
  }
  return { kind: 'secrets', secrets: secrets.map((secret: string) => secret.trim()) };
}

/** Where the receiver gets its secrets: `get()` may be cached, `refresh()` reads afresh. */
export interface WebhookSecretSource {
  get(): Promise<WebhookSecrets>;
  refresh(): Promise<WebhookSecrets>;
}

export function staticWebhookSecrets(value: string): WebhookSecretSource {
  const parsed = parseWebhookSecrets(value);
  return { get: async () => parsed, refresh: async () => parsed };
}

/**
 * The secret in Secrets Manager through Powertools' SecretsProvider, cached for `maxAgeSeconds` in the execution
 * environment. The receiver refreshes it (at most once a `minRefreshIntervalMs`) when a signature fails, so a
 * secret the operator replaced is picked up without waiting for the cache.
 */
export function secretsManagerWebhookSecrets(options: {
  secretId: string;
  maxAgeSeconds: number;
  provider?: SecretsProvider;
}): WebhookSecretSource {
  const provider = options.provider ?? new SecretsProvider();
  const read = async (forceFetch: boolean) =>
    parseWebhookSecrets(await provider.get(options.secretId, { maxAge: options.maxAgeSeconds, forceFetch }));
  return { get: () => read(false), refresh: () => read(true) };
}
