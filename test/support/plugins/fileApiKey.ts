import { readFileSync } from 'node:fs';
import { loadConfig } from '../../../functions/kycert-worker/config.js';
import { KycertClient } from '../../../functions/kycert-worker/kycertClient.js';
import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';

export type SecretReadEvent = { secretRead: true };

/**
 * The API key secret as a file every environment reads, standing in for Secrets Manager. The environment
 * caches a key as the worker caches the secret: `cached` when given (a key read before a rotation), else the
 * file's value at init; it reads the file again only when the worker asks (a 401 after which the key is
 * refreshed, a probe of an unset key). A scenario changes the file as an operator puts a new value in the
 * secret.
 */
const fileApiKey: WorkerPluginFactory<{ file: string; cached?: string }> = (options, { report }) => ({
  wrapDeps(deps) {
    const read = () => readFileSync(options.file, 'utf8').trim();
    let current = options.cached ?? read();
    const source = {
      get: async () => current,
      refresh: async () => {
        current = read();
        report({ secretRead: true } satisfies SecretReadEvent);
        return current;
      },
    };
    // The flow gate reads the key too (before the claim, and to tell a placeholder): the same source.
    deps.apiKey = source;
    deps.kycert = new KycertClient({
      baseUrl: loadConfig().kycertBaseUrl,
      apiKey: source,
      connectTimeoutMs: 1_000,
      timeoutMs: 5_000,
    });
    return deps;
  },
});
export default fileApiKey;
