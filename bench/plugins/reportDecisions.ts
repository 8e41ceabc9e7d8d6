import type { WorkerPluginFactory } from '../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../local/lambda/wrapMethod.js';

/** The attributes of one `decision` log entry of the worker, and when it was written (epoch ms). */
export type DecisionEvent = { decision: Record<string, string | number | boolean | null>; atMs: number };

/** Sends P3 every `decision` log entry the worker writes (it is still written, as deployed). */
const reportDecisions: WorkerPluginFactory<null> = (_options, { report }) => ({
  wrapDeps(deps) {
    wrapMethod(
      deps.logger,
      'info',
      (info) =>
        ((message: unknown, ...extra: unknown[]) => {
          if (message === 'decision') {
            const attributes = Object.assign({}, ...extra.filter((e) => typeof e === 'object' && e !== null));
            report({
              decision: JSON.parse(JSON.stringify(attributes)),
              atMs: Date.now(),
            } satisfies DecisionEvent);
          }
          return (info as (...args: unknown[]) => void)(message, ...extra);
        }) as typeof info,
    );
    return deps;
  },
});
export default reportDecisions;
