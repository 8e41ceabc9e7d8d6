import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { WorkerDeps } from '../../../functions/kycert-worker/processRecord.js';
import { requestBodies } from '../faultMessages.js';
import type { FaultPipeline } from '../faultPipeline.js';
import type { FaultScenario } from '../faultScenario.js';
import { wrapMethod } from '../wrapMethod.js';
import { COMMON_OPTIONS } from './kycertFaults.js';

/** SQS and Lambda misbehaving: duplicate deliveries, a handler that crashes, a function that times out. */

type Handler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Never settles: what a killed Lambda runtime looks like from the event source mapping's side. */
const killed = () => new Promise<never>(() => undefined);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Counts how each claim on a key came out, to show that copies really did race. */
function countClaims(deps: WorkerDeps, counts: Record<string, number>): Pick<WorkerDeps, 'outcomeStore'> {
  return {
    outcomeStore: wrapMethod(deps.outcomeStore, 'beginAttempt', (beginAttempt) => async (request, at) => {
      const begun = await beginAttempt(request, at);
      counts[begun.kind] = (counts[begun.kind] ?? 0) + 1;
      return begun;
    }),
  };
}

export function deliveryFaultScenarios() {
  const concurrentClaims: Record<string, number> = {};
  const crashes: string[] = [];
  const timeouts: string[] = [];
  let killedAfterPost = 0;

  return {
    duplicatesInTurn: {
      name: 'the same messages delivered again after they finished',
      options: { ...COMMON_OPTIONS },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(8, { prefix: 'again' });
        await pipeline.enqueue(bodies);
        await pipeline.settle();
        await pipeline.enqueue(bodies);
        await pipeline.settle();
      },
    },
    duplicatesConcurrently: {
      name: 'copies in the same batch and in concurrent batches, while kycert is slow',
      options: {
        ...COMMON_OPTIONS,
        batchSize: 10,
        concurrency: 3,
        sandbox: { faults: { latencyMs: 300 } },
        workerOverrides: (deps: WorkerDeps) => countClaims(deps, concurrentClaims),
      },
      drive: async (pipeline: FaultPipeline) => {
        const bodies = requestBodies(8, { prefix: 'copies' });
        // Three copies of each, interleaved, so that one receive brings several copies of one request.
        await pipeline.enqueue([...bodies, ...bodies, ...bodies]);
        await pipeline.settle();
        return { claims: concurrentClaims };
      },
    },
    crashMidBatch: {
      name: 'the handler crashes: before the batch, half-way through it, after it',
      options: {
        ...COMMON_OPTIONS,
        functionTimeoutSeconds: 2,
        visibilityTimeoutSeconds: 2,
        sandbox: {
          faultScript: ({ postNumber, externalId }) =>
            externalId?.endsWith('3') && postNumber === 1 ? 'serverError' : undefined,
        },
        wrapHandler: (handler: Handler) => async (event: SQSEvent, context: Context) => {
          const crash = ['before', 'halfway', 'after'][crashes.length];
          if (crash === undefined) return handler(event, context);
          crashes.push(crash);
          if (crash === 'halfway') {
            await handler({ Records: event.Records.slice(0, Math.ceil(event.Records.length / 2)) }, context);
          } else if (crash === 'after') {
            await handler(event, context);
          }
          throw new Error(`injected crash ${crash} the batch`);
        },
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(20, { prefix: 'crash' }));
        await pipeline.settle();
        return { crashes, poller: pipeline.pipeline.poller.stats() };
      },
    },
    lambdaTimeout: {
      name: 'the function times out: before the batch, after it, and while waiting on kycert after the run was created',
      decisionsMayBeLost: true,
      options: {
        ...COMMON_OPTIONS,
        functionTimeoutSeconds: 2,
        visibilityTimeoutSeconds: 3,
        wrapHandler: (handler: Handler) => async (event: SQSEvent, context: Context) => {
          const timeout = ['before', 'after'][timeouts.length];
          if (timeout === undefined) return handler(event, context);
          timeouts.push(timeout);
          if (timeout === 'before') return killed();
          const response = await handler(event, context);
          await sleep(2_500); // returns, but after the function timeout: Lambda discards the response
          return response;
        },
        workerOverrides: (deps: WorkerDeps) => ({
          kycert: {
            async createRun(request) {
              const outcome = await deps.kycert.createRun(request);
              // The run exists; the runtime is killed before the worker can record it.
              if (killedAfterPost < 3 && request.externalId?.startsWith('timeout-')) {
                killedAfterPost += 1;
                return killed();
              }
              return outcome;
            },
          },
        }),
      },
      drive: async (pipeline: FaultPipeline) => {
        await pipeline.enqueue(requestBodies(16, { prefix: 'timeout' }));
        await pipeline.settle();
        return { timeouts, killedAfterPost, poller: pipeline.pipeline.poller.stats() };
      },
    },
  } satisfies Record<string, FaultScenario<unknown>>;
}
