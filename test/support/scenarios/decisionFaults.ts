import { seededRandom } from '../../../local/sandbox/index.js';
import { requestBodies } from '../faultMessages.js';
import type { FaultPipeline } from '../faultPipeline.js';
import type { FaultScenario } from '../faultScenario.js';
import { COMMON_OPTIONS } from './kycertFaults.js';

/**
 * Runs followed to their decision (issue 11) while things go wrong: status checks against a failing kycert,
 * a run kycert never finishes, webhooks that come before the POST's answer, twice, or badly signed. Every
 * scenario follows its runs; the pipeline is settled only once every run is decided or overdue.
 */

/** The sandbox's fixture template whose runs stay `queued` for ever (local/sandbox/fixtureOutcomes.ts). */
const NEVER_FINISHES = 'tpl_never_finishes';
/** The sandbox's fixture template whose runs fail (`decision: null`). */
const FAILS = 'tpl_fails';

export const DECISION_MESSAGES = 12;

export function decisionFaultScenarios() {
  return {
    decisionsThroughServerErrors: {
      name: 'runs followed to their decision while 35 % of kycert’s answers, status checks included, are 5xx',
      options: {
        ...COMMON_OPTIONS,
        maxAttempts: 8,
        followRuns: true,
        sandbox: { estimatedSeconds: 1, faults: { serverErrorRate: 0.35 }, random: seededRandom(1101) },
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(DECISION_MESSAGES, { prefix: 'decide-5xx' }));
        await pipeline.settle();
      },
    },
    runsNeverDecided: {
      name: 'runs kycert never finishes are recorded decision_overdue; the others and a failed run are decided',
      options: {
        ...COMMON_OPTIONS,
        followRuns: true,
        // Overdue after 30 s here, not 24 h: far past the others' decision (1 s), even on a loaded machine
        // where a check's delivery can lag by seconds.
        workerEnv: { DECISION_OVERDUE_HOURS: String(30 / 3600) },
        sandbox: { estimatedSeconds: 1 },
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue([
          ...requestBodies(3, { prefix: 'never', templateId: NEVER_FINISHES }),
          ...requestBodies(2, { prefix: 'fails', templateId: FAILS, from: 10 }),
          ...requestBodies(3, { prefix: 'decided', from: 20 }),
        ]);
        await pipeline.settle();
      },
    },
    webhookBeforeAnswer: {
      name: 'kycert’s webhook arrives before the POST’s answer, twice or badly signed at times',
      options: {
        ...COMMON_OPTIONS,
        webhooks: true,
        httpTimeoutMs: 5_000,
        sandbox: {
          // Decided at once, its answer held 1.5 s: the webhook is at the receiver before the worker knows the run.
          estimatedSeconds: 0,
          faults: {
            slowAfterCreateMs: 1_500,
            slowAfterCreateRate: 1,
            // Every accepted delivery is sent again: a duplicate whatever the timing.
            webhookDuplicateRate: 1,
            // Drawn per delivery from this seed, 2 of the first 8 draws and 3 of the first 32 fall under 0.2:
            // a bad signature strikes whatever the order of the deliveries, and no run's four attempts all do.
            webhookBadSignatureRate: 0.2,
          },
          random: seededRandom(1136),
          webhooks: { retryBaseMs: 200 },
        },
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(8, { prefix: 'early-webhook' }));
        await pipeline.settle();
        return { deliveries: pipeline.sandbox.webhookDeliveries() };
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
