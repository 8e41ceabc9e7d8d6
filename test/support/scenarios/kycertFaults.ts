import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KycertSandbox, seededRandom } from '../../../local/sandbox/index.js';
import { requestBodies, UNKNOWN_TEMPLATE_ID } from '../faultMessages.js';
import { type FaultPipeline, SINGLE_ENVIRONMENT } from '../faultPipeline.js';
import { faultPlugin } from '../faultPlugins.js';
import type { FaultScenario } from '../faultScenario.js';
import { collectPluginEvents } from '../pluginEvents.js';
import type { SecretReadEvent } from '../plugins/fileApiKey.js';

/** kycert misbehaving: every fault the sandbox can inject, one scenario each. */

export const COMMON_OPTIONS = {
  maxAttempts: 3,
  backoffBaseSeconds: 1,
  backoffMaxSeconds: 2,
  concurrency: 3,
  batchSize: 5,
  functionTimeoutSeconds: 10,
  // A batch that times out on a loaded machine comes back in seconds, not after 6 × the function timeout.
  visibilityTimeoutSeconds: 12,
} as const;

/**
 * For scenarios whose failed records should come back soon: a short function timeout, and the queue's
 * visibility as short. Not shorter: a fresh execution environment's first invocation (its clients' first
 * calls, its code not yet compiled) must fit in it on a loaded machine, or every replacement of a timed-out
 * environment times out in turn.
 */
export const SHORT_TIMEOUTS = { functionTimeoutSeconds: 4, visibilityTimeoutSeconds: 4 } as const;

/** Sends `count` requests plus two whose template kycert does not know (404: never retried), and settles. */
export const sendAndSettle =
  (prefix: string, count = 14) =>
  async (pipeline: FaultPipeline) => {
    await pipeline.enqueue([
      ...requestBodies(count, { prefix }),
      ...requestBodies(2, { prefix: `${prefix}-unknown`, templateId: UNKNOWN_TEMPLATE_ID }),
    ]);
    await pipeline.settle();
  };

/** The backlog-drain scenario's messages: 12 windows of its sandbox's limit. */
export const BACKLOG_MESSAGES = 120;

/** The missing-scope scenario's messages. */
export const MISSING_SCOPE_MESSAGES = 40;

/** How long the account stays blocked in the revoked-key and missing-scope scenarios. */
const ACCOUNT_BLOCK_MS = 3_000;

/**
 * Runs `action` `delayMs` after the sandbox first answers `status`, as an operator reacts to the alarm: timed
 * from the first refusal, not from the start, so that a slow start on a loaded machine cannot let the fix
 * land before the fault ever struck. Gives up quietly after a minute (the scenario's assertions then say so).
 */
function afterFirstAnswer(
  pipeline: FaultPipeline,
  status: number,
  delayMs: number,
  action: () => void,
): void {
  const deadlineMs = Date.now() + 60_000;
  const poll = setInterval(() => {
    if ((pipeline.sandbox.stats().byStatus[String(status)] ?? 0) > 0) {
      clearInterval(poll);
      setTimeout(action, delayMs);
    } else if (Date.now() > deadlineMs) {
      clearInterval(poll);
      action();
    }
  }, 50);
}

/** A secret file holding `value`, for the fileApiKey plugin. */
function secretFile(value: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kycert-queue-secret-')), 'api-key');
  writeFileSync(file, value);
  return file;
}

export function kycertFaultScenarios() {
  const revokedSecret = secretFile('sk_test_revoked');
  const secretReads = collectPluginEvents<SecretReadEvent>();
  /** The sandbox, for a fault script given before it exists: it turns the 5xx status for each POST. */
  const serverErrorSandbox: { current?: KycertSandbox } = {};
  let serverErrorPosts = 0;
  const rotatedSecret = secretFile('sk_test_after_rotation');
  const refreshes = collectPluginEvents<SecretReadEvent>();

  return {
    serverErrors: {
      name: 'random 5xx (500, 502, 503 in turn)',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        sandbox: {
          faults: { serverErrorRate: 0.35 },
          random: seededRandom(501),
          faultScript: () => {
            const statuses = [500, 502, 503] as const;
            serverErrorSandbox.current?.setFaults({ serverErrorStatus: statuses[serverErrorPosts++ % 3] });
            return undefined;
          },
        },
      },
      drive: async (pipeline: FaultPipeline) => {
        serverErrorSandbox.current = pipeline.sandbox;
        await sendAndSettle('five-xx', 18)(pipeline);
      },
    },
    stormSeconds: {
      name: '429 storm, Retry-After in delta-seconds',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        sandbox: {
          faults: { rateLimitStormRate: 0.4, retryAfterSeconds: 1, retryAfterFormat: 'seconds' },
          random: seededRandom(429),
        },
      },
      drive: sendAndSettle('storm-seconds'),
    },
    stormHttpDate: {
      name: '429 storm, Retry-After as an HTTP-date',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        sandbox: {
          faults: { rateLimitStormRate: 0.4, retryAfterSeconds: 1, retryAfterFormat: 'http-date' },
          random: seededRandom(4290),
        },
      },
      drive: sendAndSettle('storm-date'),
    },
    rateLimit: {
      name: "kycert's rate limit exhausted (real 429s, and the worker's throttle before them)",
      options: {
        ...COMMON_OPTIONS,
        maxAttempts: 5,
        sandbox: { rateLimitPerMinute: 6, rateLimitWindowMs: 1_000 },
      },
      drive: sendAndSettle('limit', 18),
    },
    backlogDrain: {
      name: 'a backlog of 12 windows’ worth drained by 3 environments at kycert’s limit (10 per second)',
      options: {
        ...COMMON_OPTIONS,
        concurrency: 6,
        batchSize: 10,
        sandbox: { rateLimitPerMinute: 10, rateLimitWindowMs: 1_000 },
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(BACKLOG_MESSAGES, { prefix: 'backlog' }));
        await pipeline.settle();
      },
    },
    resetAfterCreate: {
      name: 'connection reset after the run was created',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        sandbox: { faults: { resetAfterCreateRate: 0.5 }, random: seededRandom(104) },
      },
      drive: sendAndSettle('reset'),
    },
    slowAfterCreate: {
      name: 'response slower than the client timeout (300 ms) after the run was created',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        httpTimeoutMs: 300,
        sandbox: {
          faults: { slowAfterCreateMs: 1_000, slowAfterCreateRate: 0.5 },
          random: seededRandom(300),
        },
      },
      drive: sendAndSettle('slow'),
    },
    inProgress: {
      name: '409 idempotency_in_progress',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        sandbox: { faults: { inProgressRate: 0.4 }, random: seededRandom(409) },
      },
      drive: sendAndSettle('in-progress'),
    },
    rotatedKey: {
      name: '401 once: the API key rotated, the secret already holds the new one',
      options: {
        ...COMMON_OPTIONS,
        sandbox: { apiKeys: ['sk_test_before_rotation'] },
        plugins: [
          // Each environment still holds the key from before the rotation; the secret has the new one.
          faultPlugin('fileApiKey', { file: rotatedSecret, cached: 'sk_test_before_rotation' }),
        ],
        onEnvironmentEvent: refreshes.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(6, { prefix: 'rotation-before' }));
        await pipeline.settle();
        pipeline.sandbox.setValidApiKeys(['sk_test_after_rotation']);
        await pipeline.enqueue(requestBodies(12, { prefix: 'rotation-after' }));
        await pipeline.settle();
        return { refreshes: refreshes.events.length };
      },
    },
    revokedKey: {
      name: '401 twice: the API key revoked; the flow pauses until the operator puts the new key in the secret',
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        sandbox: { apiKeys: ['sk_test_current'] },
        plugins: [faultPlugin('fileApiKey', { file: revokedSecret })],
        onEnvironmentEvent: secretReads.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(6, { prefix: 'revoked' }));
        // The operator notices the alarm and puts the current key in the secret 3 s after the first 401.
        afterFirstAnswer(pipeline, 401, ACCOUNT_BLOCK_MS, () =>
          writeFileSync(revokedSecret, 'sk_test_current'),
        );
        await pipeline.settle();
        return { refreshes: secretReads.events.length };
      },
    },
    outOfCredits: {
      name: '402 out of credits for 8 s from the first one: the flow pauses, one probe at a time, and resumes once topped up',
      options: { ...COMMON_OPTIONS, sandbox: { credits: 0 } },
      drive: async (pipeline: FaultPipeline) => {
        // kycert answers 402 for 8 s from the first one, then the credits are topped up.
        afterFirstAnswer(pipeline, 402, 8_000, () => pipeline.sandbox.setCredits(Number.POSITIVE_INFINITY));
        await pipeline.enqueue(requestBodies(40, { prefix: 'credits' }));
        await pipeline.settle();
      },
    },
    missingScope: {
      name: '403: the key lacks runs:write until the scope is granted 3 s after the first 403',
      options: { ...COMMON_OPTIONS, sandbox: { apiKeys: [{ key: 'sk_test_local', scopes: ['runs:read'] }] } },
      drive: async (pipeline: FaultPipeline) => {
        afterFirstAnswer(pipeline, 403, ACCOUNT_BLOCK_MS, () =>
          pipeline.sandbox.setValidApiKeys(['sk_test_local']),
        );
        await pipeline.enqueue(requestBodies(MISSING_SCOPE_MESSAGES, { prefix: 'scope' }));
        await pipeline.settle();
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
