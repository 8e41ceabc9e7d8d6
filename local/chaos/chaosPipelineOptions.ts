import type { FaultPipelineOptions } from '../../test/support/faultPipeline.js';
import { workerPlugin } from '../lambda/WorkerPlugin.js';
import { seededRandom } from '../sandbox/index.js';

export interface ChaosSettings {
  seed: number;
  /** Concurrent invocations. @default 8 */
  concurrency?: number;
  /** The worker's execution environments, each a process of its own. @default concurrency (as Lambda scales) */
  environments?: number;
  /** @default 10 */
  batchSize?: number;
  /** The base rate of kycert faults; each kind is a share of it (see below). @default 0.1 */
  faultRate?: number;
  /** @default 6 */
  maxAttempts?: number;
  /** kycert's processing time for every request. @default 5 ms */
  latencyMs?: number;
  /** kycert's rate limit per API key per second (its "minute", scaled down to 1 s). @default 250 */
  rateLimitPerSecond?: number;
}

/** The client timeout of a chaos run; slow-after-create responses take longer. */
export const CHAOS_HTTP_TIMEOUT_MS = 1_000;

/**
 * A pipeline for a chaos run: kycert injects every fault at once, at rates derived from one number, under a
 * rate limit scaled to a 1 s window; the worker keeps its short local backoff (1–4 s) and a budget of
 * attempts large enough that faults at these rates end in a success.
 *
 * | fault                        | rate           |
 * | ---------------------------- | -------------- |
 * | 5xx (500/502/503)            | faultRate      |
 * | 429 storm, Retry-After 1 s   | faultRate / 2  |
 * | reset after create           | faultRate / 2  |
 * | 409 in progress              | faultRate / 2  |
 * | slower than the client timeout after create | faultRate / 4 |
 */
export function chaosPipelineOptions(settings: ChaosSettings): FaultPipelineOptions {
  const faultRate = settings.faultRate ?? 0.1;
  const concurrency = settings.concurrency ?? 8;
  return {
    concurrency,
    environments: settings.environments ?? concurrency,
    batchSize: settings.batchSize ?? 10,
    maxAttempts: settings.maxAttempts ?? 6,
    backoffBaseSeconds: 1,
    backoffMaxSeconds: 4,
    httpTimeoutMs: CHAOS_HTTP_TIMEOUT_MS,
    functionTimeoutSeconds: 30,
    sandbox: {
      random: seededRandom(settings.seed),
      rateLimitPerMinute: settings.rateLimitPerSecond ?? 250,
      rateLimitWindowMs: 1_000,
      faults: {
        serverErrorRate: faultRate,
        serverErrorStatus: 503,
        rateLimitStormRate: faultRate / 2,
        retryAfterSeconds: 1,
        resetAfterCreateRate: faultRate / 2,
        inProgressRate: faultRate / 2,
        slowAfterCreateMs: CHAOS_HTTP_TIMEOUT_MS + 500,
        slowAfterCreateRate: faultRate / 4,
        latencyMs: settings.latencyMs ?? 5,
      },
    },
    plugins: [
      workerPlugin<typeof import('./seededRandomPlugin.js').default>(
        new URL('./seededRandomPlugin.ts', import.meta.url),
        { seed: settings.seed + 1 },
      ),
    ],
  };
}
