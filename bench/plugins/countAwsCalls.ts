import type { WorkerPluginFactory } from '../../local/lambda/WorkerPlugin.js';
import { patchSdkSend } from './patchSdkSend.js';

/** The worker's AWS calls during one invocation, by command name (`UpdateItemCommand`…). */
export type AwsCallsEvent = { awsCalls: Record<string, number> };

/**
 * P5's count of the function's own AWS calls (the event source's are the poller's, in the pipeline's
 * process): one count per `send`, as a middleware at the initialize step counted them, reported at the end
 * of each invocation (before its result, so none is missing once the pipeline has settled).
 */
const countAwsCalls: WorkerPluginFactory<null> = (_options, { report }) => {
  let calls: Record<string, number> = {};
  patchSdkSend(
    (send) =>
      function (command, ...rest) {
        const name = command.constructor.name;
        calls[name] = (calls[name] ?? 0) + 1;
        return send.call(this, command, ...rest);
      },
  );
  return {
    wrapHandler: (handler) => async (event, context) => {
      try {
        return await handler(event, context);
      } finally {
        report({ awsCalls: calls } satisfies AwsCallsEvent);
        calls = {};
      }
    },
  };
};
export default countAwsCalls;
