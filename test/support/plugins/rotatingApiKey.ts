import { loadConfig } from '../../../functions/kycert-worker/config.js';
import { KycertClient } from '../../../functions/kycert-worker/kycertClient.js';
import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';

export type KeyRefreshEvent = { refreshed: true };

/**
 * The environment's API key source in the rotation scenario, standing in for Secrets Manager: the cached key
 * (`initial`) until a 401 makes it read again, when the secret already holds `afterRefresh`. Each environment
 * caches its own copy, as each Lambda environment does.
 */
const rotatingApiKey: WorkerPluginFactory<{ initial: string; afterRefresh: string }> = (
  options,
  { report },
) => ({
  wrapDeps(deps) {
    let current = options.initial;
    const source = {
      get: async () => current,
      refresh: async () => {
        current = options.afterRefresh;
        report({ refreshed: true } satisfies KeyRefreshEvent);
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
export default rotatingApiKey;
