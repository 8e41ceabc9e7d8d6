import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';

export type ProbePluginEvent = {
  environmentId: number;
  tag: string;
  invocation: number;
  clockOffsetMs: number;
};

/**
 * A plugin for the execution environments' own tests: around each invocation it counts (a counter shared
 * by every environment), reports, and jumps the shared clock when its options say so.
 */
const probePlugin: WorkerPluginFactory<{ tag: string; jumpMsOnFirst?: number; failInit?: string }> = (
  options,
  { environmentId, count, report, clock },
) => {
  if (options.failInit !== undefined) throw new Error(options.failInit);
  return {
    wrapHandler: (handler) => async (event, context) => {
      const invocation = await count('invocations');
      if (invocation === 1 && options.jumpMsOnFirst !== undefined) await clock.advance(options.jumpMsOnFirst);
      report({
        environmentId,
        tag: options.tag,
        invocation,
        clockOffsetMs: clock.now() - Date.now(),
      } satisfies ProbePluginEvent);
      return handler(event, context);
    },
  };
};
export default probePlugin;
