import { JumpingClock } from '../../../local/lambda/JumpingClock.js';
import type { ScriptedFault } from '../../../local/sandbox/index.js';
import { requestBody } from '../faultMessages.js';
import { type FaultPipeline, SINGLE_ENVIRONMENT } from '../faultPipeline.js';
import { faultPlugin } from '../faultPlugins.js';
import type { FaultScenario } from '../faultScenario.js';
import { collectPluginEvents } from '../pluginEvents.js';
import type { ClockJumpEvent } from '../plugins/keyWindowClock.js';
import { COMMON_OPTIONS } from './kycertFaults.js';

/**
 * kycert's 24 h key window, on a controllable clock shared by the worker and the sandbox: one request whose
 * first attempt fails, then the clock jumps ahead while its retry waits in the queue. The clock is kept by
 * the pipeline's process, where the sandbox reads it; the execution environment follows it over IPC
 * (keyWindowClock plugin), as every environment would: the jump is made in the environment, applied in the
 * pipeline's process, and handed back with the next invocation (test/executionEnvironments.test.ts shows it
 * reaching several environments).
 */

export const HOUR_MS = 3_600_000;

interface KeyWindowCase {
  name: string;
  prefix: string;
  /** The sandbox's answer to the request's Nth POST. */
  script: (postNumber: number) => ScriptedFault | undefined;
  /** How far the clock jumps once the first retry is scheduled. */
  jumpMs: number;
  retryAfterSeconds?: number;
}

function keyWindowScenario(c: KeyWindowCase): FaultScenario<{ jumpedMs: number }> {
  const clock = new JumpingClock();
  const jumps = collectPluginEvents<ClockJumpEvent>();
  const body = requestBody(7, { prefix: c.prefix });
  return {
    name: c.name,
    options: {
      ...COMMON_OPTIONS,
      // One message, delivered again after the jump: one environment, the clock still crossing over IPC.
      ...SINGLE_ENVIRONMENT,
      maxAttempts: 4,
      sandbox: {
        clock: clock.now,
        faults: { retryAfterSeconds: c.retryAfterSeconds ?? 1 },
        faultScript: ({ postNumber }) => c.script(postNumber),
      },
      clock,
      plugins: [faultPlugin('keyWindowClock', { jumpMs: c.jumpMs })],
      onEnvironmentEvent: jumps.onEnvironmentEvent,
    },
    drive: async (pipeline: FaultPipeline) => {
      await pipeline.enqueue([body]);
      await pipeline.settle();
      return { jumpedMs: jumps.events.reduce((total, jump) => total + jump.jumpedMs, 0) };
    },
  };
}

export function keyWindowScenarios() {
  return {
    windowOver: keyWindowScenario({
      name: 'the retry comes back 22 h after the first attempt',
      prefix: 'window-over',
      script: (n) => (n === 1 ? 'serverError' : undefined),
      jumpMs: 22 * HOUR_MS + 1_000,
    }),
    keyForgotten: keyWindowScenario({
      name: 'the run was created, its answer lost, and the retry comes back after kycert forgot the key (25 h)',
      prefix: 'key-forgotten',
      script: (n) => (n === 1 ? 'resetAfterCreate' : undefined),
      jumpMs: 25 * HOUR_MS,
    }),
    withinWindow: keyWindowScenario({
      name: 'the retry comes back 21 h after the first attempt',
      prefix: 'within-window',
      script: (n) => (n === 1 ? 'serverError' : undefined),
      jumpMs: 21 * HOUR_MS,
    }),
    retryPastWindow: keyWindowScenario({
      name: 'a 429 one minute before the window ends asks for two minutes',
      prefix: 'past-window',
      script: (n) => (n === 1 ? 'serverError' : n === 2 ? 'rateLimit' : undefined),
      jumpMs: 22 * HOUR_MS - 60_000,
      retryAfterSeconds: 120,
    }),
  } satisfies Record<string, FaultScenario<unknown>>;
}
