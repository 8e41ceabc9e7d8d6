import { readFileSync } from 'node:fs';
import { loadConfig } from '../../../functions/kycert-worker/config.js';
import { KycertClient } from '../../../functions/kycert-worker/kycertClient.js';
import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';

export type SecretReadEvent = { secretRead: true };

/**
 * The API key secret as a file every environment reads, standing in for Secrets Manager: the value read at
 * init is cached, as the worker caches the secret, and read again only when the worker asks (a 401 after
 * which the key is refreshed, a probe of an unset key). The scenario changes the file as an operator puts a
 * new value in the secret.
 */
const fileApiKey: WorkerPluginFactory<{ file: string }> = (options, { report }) => ({
  wrapDeps(deps) {
    const read = () => readFileSync(options.file, 'utf8').trim();
    let current = read();
    const source = {
      get: async () => current,
      refresh: async () => {
        current = read();
        report({ secretRead: true } satisfies SecretReadEvent);
        return current;
      },
    };
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
