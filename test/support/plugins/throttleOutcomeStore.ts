import { createHash } from 'node:crypto';
import type { WorkerPluginFactory } from '../../../local/lambda/WorkerPlugin.js';
import { wrapMethod } from '../../../local/lambda/wrapMethod.js';
import { throttled, type When, withFault } from './awsFaultPlugins.js';

/** Reported for every write throttled: `beginAttempt:before`, `recordRetry:after`… */
export type ThrottledWriteEvent = { throttled: string };

const OUTCOME_WRITES = ['beginAttempt', 'recordSuccess', 'recordRetry', 'recordFailure'] as const;
type OutcomeWrite = (typeof OUTCOME_WRITES)[number];

/** Deterministic per key: which of the store's writes fails, once, and whether before or after it is applied. */
function plan(key: string): { method: OutcomeWrite; when: When } {
  const digest = createHash('sha256').update(key).digest();
  return {
    method: OUTCOME_WRITES[(digest[0] ?? 0) % 4] as OutcomeWrite,
    when: (digest[1] ?? 0) % 2 === 0 ? 'before' : 'after',
  };
}

/** DynamoDB throttles one outcome write per key, once across every environment (the pipeline counts). */
const throttleOutcomeStore: WorkerPluginFactory<null> = (_options, { count, report }) => {
  const faultFor = async (method: OutcomeWrite, key: string): Promise<When | undefined> => {
    const chosen = plan(key);
    if (chosen.method !== method || (await count(`throttled:${key}`)) !== 1) return undefined;
    report({ throttled: `${method}:${chosen.when}` } satisfies ThrottledWriteEvent);
    return chosen.when;
  };
  return {
    wrapDeps(deps) {
      const store = deps.outcomeStore;
      wrapMethod(store, 'beginAttempt', (original) => async (request, at) => {
        const when = await faultFor('beginAttempt', request.idempotencyKey);
        return withFault(
          when,
          () => throttled('beginAttempt'),
          () => original(request, at),
        );
      });
      wrapMethod(store, 'recordSuccess', (original) => async (key, outcome) => {
        const when = await faultFor('recordSuccess', key);
        return withFault(
          when,
          () => throttled('recordSuccess'),
          () => original(key, outcome),
        );
      });
      wrapMethod(store, 'recordRetry', (original) => async (key, outcome) => {
        const when = await faultFor('recordRetry', key);
        return withFault(
          when,
          () => throttled('recordRetry'),
          () => original(key, outcome),
        );
      });
      wrapMethod(store, 'recordFailure', (original) => async (key, outcome) => {
        const when = await faultFor('recordFailure', key);
        return withFault(
          when,
          () => throttled('recordFailure'),
          () => original(key, outcome),
        );
      });
      return deps;
    },
  };
};
export default throttleOutcomeStore;
