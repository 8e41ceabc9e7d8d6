import { requestBodies } from '../faultMessages.js';
import { type FaultPipeline, SINGLE_ENVIRONMENT } from '../faultPipeline.js';
import { faultPlugin } from '../faultPlugins.js';
import type { FaultScenario } from '../faultScenario.js';
import { collectPluginEvents } from '../pluginEvents.js';
import type { ClaimEvent } from '../plugins/countClaims.js';
import type { CrashEvent } from '../plugins/crashHandler.js';
import type { LambdaTimeoutEvent } from '../plugins/lambdaTimeouts.js';
import { COMMON_OPTIONS, SHORT_TIMEOUTS } from './kycertFaults.js';

/**
 * SQS and Lambda misbehaving: duplicate deliveries, a handler that crashes, a runtime that dies, a function
 * that times out. The crashes and timeouts happen inside the execution environments (worker plugins); a
 * timed-out or dead environment is replaced by a fresh process, as Lambda replaces it.
 */

const KILL_AFTER_POSTS = 3;

export function deliveryFaultScenarios() {
  const claims = collectPluginEvents<ClaimEvent>();
  const crashes = collectPluginEvents<CrashEvent>();
  const timeouts = collectPluginEvents<LambdaTimeoutEvent>();

  return {
    duplicatesInTurn: {
      name: 'the same messages delivered again after they finished',
      // The copies come only once their requests are done: nothing races.
      options: { ...COMMON_OPTIONS, ...SINGLE_ENVIRONMENT },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(8, { prefix: 'again' });
        await pipeline.enqueue(bodies);
        await pipeline.settle();
        await pipeline.enqueue(bodies);
        await pipeline.settle();
      },
    },
    duplicatesConcurrently: {
      name: 'copies in the same batch and in concurrent batches, while kycert is slow',
      options: {
        ...COMMON_OPTIONS,
        batchSize: 10,
        concurrency: 3,
        // Slower than a batch's slots on the rate schedule (ten, about 100 ms apart): the copy of a request later
        // in the same batch claims the key while the first copy's POST is still in flight, whatever the timing.
        sandbox: { faults: { latencyMs: 1_500 } },
        plugins: [faultPlugin('countClaims', null)],
        onEnvironmentEvent: claims.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(8, { prefix: 'copies' });
        // Three copies of each, interleaved, so that one receive brings several copies of one request.
        await pipeline.enqueue([...bodies, ...bodies, ...bodies]);
        await pipeline.settle();
        const counts: Record<string, number> = {};
        for (const { claim } of claims.events) counts[claim] = (counts[claim] ?? 0) + 1;
        return { claims: counts };
      },
    },
    crashMidBatch: {
      name: 'the handler crashes: before the batch, half-way through it, after it; the runtime dies half-way through one',
      options: {
        ...COMMON_OPTIONS,
        ...SHORT_TIMEOUTS,
        sandbox: {
          faultScript: ({ postNumber, externalId }) =>
            externalId?.endsWith('3') && postNumber === 1 ? 'serverError' : undefined,
        },
        plugins: [faultPlugin('crashHandler', null)],
        onEnvironmentEvent: crashes.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(20, { prefix: 'crash' }));
        await pipeline.settle();
        return {
          crashes: crashes.events.toSorted((a, b) => a.n - b.n).map((event) => event.crash),
          poller: pipeline.pipeline.poller.stats(),
          environments: pipeline.pipeline.environments.stats(),
        };
      },
    },
    lambdaTimeout: {
      name: 'the function times out: before the batch, after it, and while waiting on kycert after the run was created',
      decisionsMayBeLost: true,
      options: {
        ...COMMON_OPTIONS,
        ...SHORT_TIMEOUTS,
        visibilityTimeoutSeconds: SHORT_TIMEOUTS.functionTimeoutSeconds + 1,
        // Returns a second after the function timeout: Lambda has stopped the runtime by then.
        plugins: [
          faultPlugin('lambdaTimeouts', {
            returnAfterMs: (SHORT_TIMEOUTS.functionTimeoutSeconds + 1) * 1000,
            killAfterPosts: KILL_AFTER_POSTS,
          }),
        ],
        onEnvironmentEvent: timeouts.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(16, { prefix: 'timeout' }));
        await pipeline.settle();
        // Counted where the claims are granted, not from the plugin's reports: an environment killed at its
        // timeout between its claim and its report also died after kycert created the run and before the
        // worker recorded it, which is the fault, but its report never left.
        const postsClaimed = pipeline.pipeline.environments.counters().killedAfterPost ?? 0;
        return {
          timeouts: timeouts.events.toSorted((a, b) => a.n - b.n).map((event) => event.timeout),
          killedAfterPost: Math.min(postsClaimed, KILL_AFTER_POSTS),
          poller: pipeline.pipeline.poller.stats(),
          environments: pipeline.pipeline.environments.stats(),
        };
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
