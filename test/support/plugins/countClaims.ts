import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../../local/lambda/wrapMethod.js';

/** How a claim on a key came out (`claimed`, `leased`…), reported for each: shows that copies did race. */
export type ClaimEvent = { claim: string };

const countClaims: WorkerPluginFactory<null> = (_options, { report }) => ({
  wrapDeps(deps) {
    wrapMethod(deps.outcomeStore, 'beginAttempt', (beginAttempt) => async (request, at) => {
      const begun = await beginAttempt(request, at);
      report({ claim: begun.kind } satisfies ClaimEvent);
      return begun;
    });
    return deps;
  },
});
export default countClaims;
