import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../../local/lambda/wrapMethod.js';
import { sqsThrottled } from './awsFaultPlugins.js';

export type VisibilityFailureEvent = { visibilityFailed: number };

/** ChangeMessageVisibility fails on every other call, counted across every environment. */
const failVisibility: WorkerPluginFactory<null> = (_options, { count, report }) => ({
  wrapDeps(deps) {
    wrapMethod(deps.visibility, 'delay', (delay) => async (receiptHandle, seconds) => {
      const call = await count('visibility');
      if (call % 2 === 1) {
        report({ visibilityFailed: call } satisfies VisibilityFailureEvent);
        throw sqsThrottled('ChangeMessageVisibility');
      }
      return delay(receiptHandle, seconds);
    });
    return deps;
  },
});
export default failVisibility;
