import { createChaosMessages } from '../../../local/chaos/chaosMessages.js';
import { chaosPipelineOptions } from '../../../local/chaos/chaosPipelineOptions.js';
import type { FaultPipeline } from '../faultPipeline.js';
import type { FaultScenario } from '../faultScenario.js';

/** `npm run chaos` in small: every kycert fault at once, with duplicates and invalid messages. */
export const CHAOS_MIX_MESSAGES = 200;

export function chaosMixScenarios() {
  const seed = 7;
  // Higher rates than the chaos default, so that 200 messages meet every fault and every kind of message.
  const mix = createChaosMessages({
    count: CHAOS_MIX_MESSAGES,
    seed,
    duplicateRate: 0.08,
    invalidRate: 0.08,
    rejectedRate: 0.04,
  });
  return {
    chaosMix: {
      name: `the chaos mix in small (${CHAOS_MIX_MESSAGES} messages, every kycert fault at once)`,
      // A shorter retry tail than the chaos command's, to stay quick in `npm test`.
      options: {
        ...chaosPipelineOptions({ seed, faultRate: 0.1, concurrency: 4, environments: 3, maxAttempts: 4 }),
        backoffMaxSeconds: 2,
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(mix.bodies);
        await pipeline.settle(60_000);
        const { bodies: _bodies, ...counts } = mix;
        return counts;
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
