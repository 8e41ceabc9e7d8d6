import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../../local/lambda/wrapMethod.js';

/** Which timeout the `n`th invocation of the pipeline got. */
export type LambdaTimeoutEvent = { timeout: 'before' | 'after'; n: number };

/** Never settles: the environment is killed at the function timeout while it waits. */
const hang = () => new Promise<never>(() => undefined);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The function times out, wherever it runs: the first invocation hangs before the batch, the second returns
 * after the timeout; and the first `killAfterPosts` POSTs for `timeout-…` requests hang once kycert has
 * created the run, so the environment is killed before the worker can record it.
 */
const lambdaTimeouts: WorkerPluginFactory<{ returnAfterMs: number; killAfterPosts: number }> = (
  options,
  { count, report },
) => ({
  wrapHandler: (handler) => async (event, context) => {
    const n = await count('invocation');
    const timeout = (['before', 'after'] as const)[n - 1];
    if (timeout === undefined) return handler(event, context);
    report({ timeout, n } satisfies LambdaTimeoutEvent);
    if (timeout === 'before') return hang();
    const response = await handler(event, context);
    await sleep(options.returnAfterMs); // past the function timeout: Lambda never sees the response
    return response;
  },
  wrapDeps(deps) {
    wrapMethod(deps.kycert, 'createRun', (createRun) => async (request) => {
      const outcome = await createRun(request);
      if (request.externalId?.startsWith('timeout-')) {
        // The pipeline's counter is the record of these kills (see the scenario).
        if ((await count('killedAfterPost')) <= options.killAfterPosts) return hang();
      }
      return outcome;
    });
    return deps;
  },
});
export default lambdaTimeouts;
