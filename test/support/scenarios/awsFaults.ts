import { createHash } from 'node:crypto';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { RequestThrottled } from '@aws-sdk/client-sqs';
import type { WorkerDeps } from '../../../functions/kycert-worker/processRecord.js';
import { BAD_INPUT_CATALOGUE } from '../badInputCatalogue.js';
import { requestBodies, UNKNOWN_TEMPLATE_ID } from '../faultMessages.js';
import type { FaultPipeline } from '../faultPipeline.js';
import type { FaultScenario } from '../faultScenario.js';
import { wrapMethod } from '../wrapMethod.js';
import { COMMON_OPTIONS } from './kycertFaults.js';

/**
 * AWS failing under the worker: DynamoDB throttling its writes, ChangeMessageVisibility and the DLQ's
 * SendMessage failing. Faults are thrown as the SDK surfaces them once its own retries are spent, either
 * before the call (nothing happened) or after it (it happened, the answer was lost).
 */

export type When = 'before' | 'after';

/** Deterministic per key: which of the store's writes fails, once, and whether before or after it is applied. */
function plan(key: string): { method: number; when: When } {
  const digest = createHash('sha256').update(key).digest();
  return { method: (digest[0] ?? 0) % 4, when: (digest[1] ?? 0) % 2 === 0 ? 'before' : 'after' };
}

const throttled = (what: string) =>
  new ProvisionedThroughputExceededException({ message: `injected: ${what} throttled`, $metadata: {} });
const sqsThrottled = (what: string) =>
  new RequestThrottled({ message: `injected: ${what} throttled`, $metadata: {} });

/** Runs `call` with the fault `when` says: thrown instead of it, or after it. */
async function withFault<T>(when: When | undefined, error: () => Error, call: () => Promise<T>): Promise<T> {
  if (when === 'before') throw error();
  const result = await call();
  if (when === 'after') throw error();
  return result;
}

const OUTCOME_WRITES = ['beginAttempt', 'recordSuccess', 'recordRetry', 'recordFailure'] as const;

/** Every key gets one of its outcome writes throttled, once. */
function throttleOutcomeStore(deps: WorkerDeps, injected: string[]): Pick<WorkerDeps, 'outcomeStore'> {
  const done = new Set<string>();
  const faultFor = (method: (typeof OUTCOME_WRITES)[number], key: string): When | undefined => {
    const { method: chosen, when } = plan(key);
    if (OUTCOME_WRITES[chosen] !== method || done.has(key)) return undefined;
    done.add(key);
    injected.push(`${method}:${when}`);
    return when;
  };
  const store = deps.outcomeStore;
  wrapMethod(
    store,
    'beginAttempt',
    (original) => (request, at) =>
      withFault(
        faultFor('beginAttempt', request.idempotencyKey),
        () => throttled('beginAttempt'),
        () => original(request, at),
      ),
  );
  wrapMethod(
    store,
    'recordSuccess',
    (original) => (key, outcome) =>
      withFault(
        faultFor('recordSuccess', key),
        () => throttled('recordSuccess'),
        () => original(key, outcome),
      ),
  );
  wrapMethod(
    store,
    'recordRetry',
    (original) => (key, outcome) =>
      withFault(
        faultFor('recordRetry', key),
        () => throttled('recordRetry'),
        () => original(key, outcome),
      ),
  );
  wrapMethod(
    store,
    'recordFailure',
    (original) => (key, outcome) =>
      withFault(
        faultFor('recordFailure', key),
        () => throttled('recordFailure'),
        () => original(key, outcome),
      ),
  );
  return { outcomeStore: store };
}

export function awsFaultScenarios() {
  const throttledWrites: string[] = [];
  let visibilityCalls = 0;
  let visibilityFailures = 0;
  const dlqFailures: string[] = [];
  const invalid = BAD_INPUT_CATALOGUE.filter((_, i) => i % 9 === 0).map((c) => c.body('aws-dlq'));

  return {
    dynamodbThrottling: {
      name: 'DynamoDB throttles one outcome write per key (before or after it applies), copies racing for the key',
      decisionsMayBeLost: true,
      options: {
        ...COMMON_OPTIONS,
        maxAttempts: 4,
        functionTimeoutSeconds: 2,
        visibilityTimeoutSeconds: 2,
        sandbox: {
          faults: { latencyMs: 100 },
          faultScript: ({ externalId, postNumber }) =>
            externalId?.endsWith('1') && postNumber === 1 ? 'serverError' : undefined,
        },
        workerOverrides: (deps: WorkerDeps) => throttleOutcomeStore(deps, throttledWrites),
      },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(16, { prefix: 'throttle' });
        await pipeline.enqueue([
          ...bodies,
          ...bodies.slice(0, 4),
          ...requestBodies(3, { prefix: 'throttle-unknown', templateId: UNKNOWN_TEMPLATE_ID }),
        ]);
        await pipeline.settle();
        return { throttledWrites };
      },
    },
    visibilityFailing: {
      name: 'ChangeMessageVisibility fails on every other call',
      options: {
        ...COMMON_OPTIONS,
        maxAttempts: 4,
        functionTimeoutSeconds: 2,
        visibilityTimeoutSeconds: 2,
        sandbox: {
          faults: { latencyMs: 100 },
          faultScript: ({ postNumber }) => (postNumber === 1 ? 'serverError' : undefined),
        },
        workerOverrides: (deps: WorkerDeps) => ({
          visibility: wrapMethod(deps.visibility, 'delay', (delay) => async (receiptHandle, seconds) => {
            visibilityCalls += 1;
            if (visibilityCalls % 2 === 1) {
              visibilityFailures += 1;
              throw sqsThrottled('ChangeMessageVisibility');
            }
            return delay(receiptHandle, seconds);
          }),
        }),
      },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(12, { prefix: 'visibility' });
        await pipeline.enqueue([...bodies, ...bodies.slice(0, 4)]);
        await pipeline.settle();
        return { failures: visibilityFailures };
      },
    },
    dlqSendFailing: {
      name: "the DLQ's SendMessage fails once per message (before or after it is stored)",
      decisionsMayBeLost: true,
      options: {
        ...COMMON_OPTIONS,
        functionTimeoutSeconds: 2,
        visibilityTimeoutSeconds: 2,
        sandbox: {
          faultScript: ({ externalId }) =>
            externalId?.startsWith('dlq-failing-') ? 'serverError' : undefined,
        },
        workerOverrides: (deps: WorkerDeps) => {
          const failed = new Set<string>();
          return {
            deadLetterQueue: wrapMethod(deps.deadLetterQueue, 'send', (send) => async (entry) => {
              if (failed.has(entry.sourceMessageId)) return send(entry);
              failed.add(entry.sourceMessageId);
              const when: When = failed.size % 2 === 0 ? 'before' : 'after';
              dlqFailures.push(when);
              return withFault(
                when,
                () => sqsThrottled('SendMessage'),
                () => send(entry),
              );
            }),
          };
        },
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue([
          ...requestBodies(6, { prefix: 'dlq-ok' }),
          ...requestBodies(3, { prefix: 'dlq-unknown', templateId: UNKNOWN_TEMPLATE_ID }),
          ...requestBodies(3, { prefix: 'dlq-failing' }),
          ...invalid,
        ]);
        await pipeline.settle();
        return { dlqFailures, invalidCount: invalid.length };
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
