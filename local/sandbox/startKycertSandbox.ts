import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { API_PREFIX, createRequestHandler, draw, type SandboxContext } from './createRequestHandler.js';
import { FixedWindowRateLimiter } from './fixedWindowRateLimiter.js';
import { IdempotencyStore } from './idempotencyStore.js';
import {
  type ApiKeyInput,
  DEFAULT_FAULTS,
  type KycertSandboxOptions,
  mergeFaults,
  requireInRange,
  resolveApiKeys,
  SANDBOX_DEFAULTS,
  SandboxConfigError,
  type SandboxFaults,
} from './options.js';
import { writeLogLine } from './requestLog.js';
import { RunStore, type SandboxRun } from './runStore.js';
import { type SandboxStats, StatsRecorder } from './sandboxStats.js';
import { type WebhookDelivery, WebhookSender } from './webhookSender.js';

export interface KycertSandbox {
  /** e.g. `http://127.0.0.1:40123/api/v1`, without a trailing slash: what the worker takes as `KYCERT_BASE_URL`. */
  readonly baseUrl: string;
  readonly port: number;
  /** The first configured API key, for the common single-key case. */
  readonly apiKey: string;
  stats(): SandboxStats;
  /** Every run created so far, with its status as of the sandbox's clock. */
  runs(): SandboxRun[];
  /** The rate limit it enforces: `limit` requests per fixed window of `windowMs`. */
  rateLimit(): { limit: number; windowMs: number };
  /** The faults now in force. */
  faults(): SandboxFaults;
  /** Merges `partial` over the faults now in force and returns the result; throws `SandboxConfigError` on a bad value. */
  setFaults(partial: Partial<SandboxFaults>): SandboxFaults;
  /** Runs that may still be created (`Infinity`: unlimited). */
  setCredits(credits: number): void;
  /** Replaces the valid keys, e.g. to rotate one: requests with a dropped key get 401 from now on. */
  setValidApiKeys(keys: readonly ApiKeyInput[]): void;
  /** Every webhook POST sent so far, retries and duplicates included, in order. */
  webhookDeliveries(): WebhookDelivery[];
  /**
   * Sends the webhooks of the runs that are terminal by the sandbox's clock now, and waits for those deliveries.
   * The sandbox does so by itself every 50 ms; a test that moves its own clock calls this to not wait.
   */
  deliverDueWebhooks(): Promise<void>;
  /** Replaces the secrets that sign webhooks (a rotation: sign with both, then with the new one). */
  setWebhookSecrets(secrets: readonly string[]): void;
  /** Stops listening, drops open connections and gives up on held requests. */
  close(): Promise<void>;
}

/** Starts kycert's stand-in on loopback; resolves once it is listening. */
export async function startKycertSandbox(options: KycertSandboxOptions = {}): Promise<KycertSandbox> {
  const apiKeyInputs = options.apiKeys ?? [SANDBOX_DEFAULTS.apiKey];
  if (apiKeyInputs.length === 0) throw new SandboxConfigError('apiKeys must name at least one key');
  const rateLimitPerMinute = options.rateLimitPerMinute ?? SANDBOX_DEFAULTS.rateLimitPerMinute;
  const rateLimitWindowMs = options.rateLimitWindowMs ?? SANDBOX_DEFAULTS.rateLimitWindowMs;
  const estimatedSeconds = options.estimatedSeconds ?? SANDBOX_DEFAULTS.estimatedSeconds;
  const estimatedSecondsByTemplate = { ...options.estimatedSecondsByTemplate };
  const credits = options.credits ?? Number.POSITIVE_INFINITY;
  requireInRange('rateLimitPerMinute', rateLimitPerMinute, 1, Number.MAX_SAFE_INTEGER);
  requireInRange('rateLimitWindowMs', rateLimitWindowMs, 1, Number.MAX_SAFE_INTEGER);
  requireInRange('estimatedSeconds', estimatedSeconds, 0, Number.MAX_SAFE_INTEGER);
  for (const [templateId, seconds] of Object.entries(estimatedSecondsByTemplate)) {
    requireInRange(`estimatedSecondsByTemplate.${templateId}`, seconds, 0, Number.MAX_SAFE_INTEGER);
  }
  requireCredits(credits);

  const templates = new Set(options.templates ?? []);
  const strictTemplates = options.strictTemplates ?? false;
  const closing = new AbortController();
  const stats = new StatsRecorder();
  const clock = options.clock ?? Date.now;
  const random = options.random ?? Math.random;
  const log = options.log === true ? writeLogLine : options.log === false ? undefined : options.log;
  const state: SandboxContext['state'] = {
    faults: mergeFaults(DEFAULT_FAULTS, options.faults ?? {}),
    apiKeys: resolveApiKeys(apiKeyInputs),
    creditsRemaining: credits,
  };
  const webhooks = new WebhookSender({
    settings: options.webhooks,
    clock,
    draw: (rate) => draw({ random }, rate),
    faults: () => state.faults,
    closing: closing.signal,
    log,
  });
  const ctx: SandboxContext = {
    faultScript: options.faultScript,
    postsByKey: new Map(),
    keepAccountErrors: options.keepAccountErrors ?? false,
    state,
    clock,
    random,
    sleep: options.sleep ?? ((delayMs, signal) => sleepMs(delayMs, undefined, { signal })),
    closing: closing.signal,
    rateLimiter: new FixedWindowRateLimiter(rateLimitPerMinute, rateLimitWindowMs),
    idempotency: new IdempotencyStore(SANDBOX_DEFAULTS.idempotencyTtlMs),
    runs: new RunStore(),
    stats,
    estimatedSecondsFor: (templateId) => estimatedSecondsByTemplate[templateId] ?? estimatedSeconds,
    webhooks,
    isKnownTemplate: (templateId) =>
      templates.has(templateId) || (!strictTemplates && templateId.startsWith('tpl_')),
    log,
  };

  const server = createServer(createRequestHandler(ctx));
  const host = options.host ?? SANDBOX_DEFAULTS.host;
  await listen(server, options.port ?? SANDBOX_DEFAULTS.port, host);
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    baseUrl: `http://${urlHost}:${port}${API_PREFIX}`,
    port,
    apiKey: [...ctx.state.apiKeys.keys()][0] as string,
    stats: () => stats.snapshot(ctx.state.creditsRemaining),
    runs: () => ctx.runs.all(ctx.clock()),
    rateLimit: () => ({ limit: rateLimitPerMinute, windowMs: rateLimitWindowMs }),
    faults: () => ({ ...ctx.state.faults }),
    setFaults: (partial) => {
      ctx.state.faults = mergeFaults(ctx.state.faults, partial);
      return { ...ctx.state.faults };
    },
    setCredits: (remaining) => {
      requireCredits(remaining);
      ctx.state.creditsRemaining = remaining;
    },
    setValidApiKeys: (keys) => {
      if (keys.length === 0) throw new SandboxConfigError('setValidApiKeys needs at least one key');
      ctx.state.apiKeys = resolveApiKeys(keys);
    },
    webhookDeliveries: () => webhooks.deliveries(),
    deliverDueWebhooks: () => webhooks.deliverDue(),
    setWebhookSecrets: (secrets) => webhooks.setSecrets(secrets),
    close: async () => {
      closing.abort();
      await webhooks.close();
      const closed = new Promise<void>((resolve, reject) =>
        server.close((error) => (error === undefined ? resolve() : reject(error))),
      );
      server.closeAllConnections();
      await closed;
    },
  };
}

function requireCredits(credits: number): void {
  if (credits !== Number.POSITIVE_INFINITY) requireInRange('credits', credits, 0, Number.MAX_SAFE_INTEGER);
}

/** Rejects with the server's own error (EADDRINUSE, EACCES…) so that the CLI can explain it. */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
