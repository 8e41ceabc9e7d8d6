import { BAD_INPUT_CATALOGUE } from '../badInputCatalogue.js';
import { requestBodies, UNKNOWN_TEMPLATE_ID } from '../faultMessages.js';
import { type FaultPipeline, SINGLE_ENVIRONMENT } from '../faultPipeline.js';
import { faultPlugin } from '../faultPlugins.js';
import type { FaultScenario } from '../faultScenario.js';
import { collectPluginEvents } from '../pluginEvents.js';
import type { DeadLetterFailureEvent } from '../plugins/failDeadLetterSend.js';
import type { VisibilityFailureEvent } from '../plugins/failVisibility.js';
import type { ThrottledWriteEvent } from '../plugins/throttleOutcomeStore.js';
import { COMMON_OPTIONS, SHORT_TIMEOUTS } from './kycertFaults.js';

/**
 * AWS failing under the worker: DynamoDB throttling its writes, ChangeMessageVisibility and the DLQ's
 * SendMessage failing, injected in the execution environments by worker plugins (test/support/plugins).
 */

export function awsFaultScenarios() {
  const throttledWrites = collectPluginEvents<ThrottledWriteEvent>();
  const visibilityFailures = collectPluginEvents<VisibilityFailureEvent>();
  const dlqFailures = collectPluginEvents<DeadLetterFailureEvent>();
  const invalid = BAD_INPUT_CATALOGUE.filter((_, i) => i % 9 === 0).map((c) => c.body('aws-dlq'));

  return {
    dynamodbThrottling: {
      name: 'DynamoDB throttles one outcome write per key (before or after it applies), copies racing for the key',
      decisionsMayBeLost: true,
      options: {
        ...COMMON_OPTIONS,
        // Room for an attempt or two lost to a 4 s function timeout when the machine is loaded (CI runs every
        // scenario at once): the scenario is about visibility changes failing, not about the attempt bound.
        maxAttempts: 6,
        ...SHORT_TIMEOUTS,
        sandbox: {
          faults: { latencyMs: 100 },
          faultScript: ({ externalId, postNumber }) =>
            externalId?.endsWith('1') && postNumber === 1 ? 'serverError' : undefined,
        },
        plugins: [faultPlugin('throttleOutcomeStore', null)],
        onEnvironmentEvent: throttledWrites.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(16, { prefix: 'throttle' });
        await pipeline.enqueue([
          ...bodies,
          ...bodies.slice(0, 4),
          ...requestBodies(3, { prefix: 'throttle-unknown', templateId: UNKNOWN_TEMPLATE_ID }),
        ]);
        await pipeline.settle();
        return { throttledWrites: throttledWrites.events.map((event) => event.throttled) };
      },
    },
    visibilityFailing: {
      name: 'ChangeMessageVisibility fails on every other call',
      options: {
        ...COMMON_OPTIONS,
        // Room for an attempt or two lost to a 4 s function timeout when the machine is loaded (CI runs every
        // scenario at once): the scenario is about visibility changes failing, not about the attempt bound.
        maxAttempts: 6,
        ...SHORT_TIMEOUTS,
        sandbox: {
          faults: { latencyMs: 100 },
          faultScript: ({ postNumber }) => (postNumber === 1 ? 'serverError' : undefined),
        },
        plugins: [faultPlugin('failVisibility', null)],
        onEnvironmentEvent: visibilityFailures.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(12, { prefix: 'visibility' });
        await pipeline.enqueue([...bodies, ...bodies.slice(0, 4)]);
        await pipeline.settle();
        return { failures: visibilityFailures.events.length };
      },
    },
    dlqSendFailing: {
      name: "the DLQ's SendMessage fails once per message (before or after it is stored)",
      decisionsMayBeLost: true,
      options: {
        ...COMMON_OPTIONS,
        ...SINGLE_ENVIRONMENT,
        ...SHORT_TIMEOUTS,
        sandbox: {
          faultScript: ({ externalId }) =>
            externalId?.startsWith('dlq-failing-') ? 'serverError' : undefined,
        },
        plugins: [faultPlugin('failDeadLetterSend', null)],
        onEnvironmentEvent: dlqFailures.onEnvironmentEvent,
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue([
          ...requestBodies(6, { prefix: 'dlq-ok' }),
          ...requestBodies(3, { prefix: 'dlq-unknown', templateId: UNKNOWN_TEMPLATE_ID }),
          ...requestBodies(3, { prefix: 'dlq-failing' }),
          ...invalid,
        ]);
        await pipeline.settle();
        return {
          dlqFailures: dlqFailures.events.map((event) => event.dlqFailed),
          invalidCount: invalid.length,
        };
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
