import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../../local/lambda/wrapMethod.js';

export type ClockJumpEvent = { jumpedMs: number };

/**
 * The worker's clock is the pipeline's JumpingClock (the sandbox's too); the first retry recorded, in
 * whichever environment, makes it jump `jumpMs` ahead for all of them while the retry waits in the queue.
 */
const keyWindowClock: WorkerPluginFactory<{ jumpMs: number }> = ({ jumpMs }, { clock, count, report }) => ({
  wrapDeps(deps) {
    deps.nowMs = clock.now;
    wrapMethod(deps.outcomeStore, 'recordRetry', (recordRetry) => async (key, outcome) => {
      const stillPending = await recordRetry(key, outcome);
      if ((await count('retryRecorded')) === 1) {
        await clock.advance(jumpMs);
        report({ jumpedMs: jumpMs } satisfies ClockJumpEvent);
      }
      return stillPending;
    });
    return deps;
  },
});
export default keyWindowClock;
