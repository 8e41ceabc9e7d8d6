import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';

/** Where the kycert API key comes from. `refresh()` bypasses any cache: it is called after a 401. */
export interface ApiKeySource {
  get(): Promise<string>;
  refresh(): Promise<string>;
}

export function staticApiKey(value: string): ApiKeySource {
  return { get: async () => value, refresh: async () => value };
}

/**
 * The key in Secrets Manager, cached across invocations of one execution environment for `maxAgeSeconds`.
 * The secret holds the key itself (`sk_live_…`), or JSON with an `api_key` field.
 */
export function secretsManagerApiKey(options: {
  secretId: string;
  maxAgeSeconds: number;
  provider?: SecretsProvider;
}): ApiKeySource {
  const provider = options.provider ?? new SecretsProvider();
  const read = async (forceFetch: boolean) => {
    const value = await provider.get(options.secretId, { maxAge: options.maxAgeSeconds, forceFetch });
    if (typeof value !== 'string' || value.length === 0) {
      throw new Error(`secret ${options.secretId} has no string value`);
    }
    return extractApiKey(value, options.secretId);
  };
  return { get: () => read(false), refresh: () => read(true) };
}

function extractApiKey(secretString: string, secretId: string): string {
  if (!secretString.trimStart().startsWith('{')) return secretString.trim();
  let json: { api_key?: unknown };
  try {
    json = JSON.parse(secretString) as { api_key?: unknown };
  } catch {
    // Not the parser's message: it would quote the secret.
    throw new Error(`secret ${secretId} starts with "{" but is not valid JSON`);
  }
  if (typeof json.api_key !== 'string')
    throw new Error(`secret ${secretId} is JSON but has no "api_key" string`);
  return json.api_key.trim();
}
