import { fileURLToPath } from 'node:url';
import type { EventSourcePollerEvent } from '../local/aws/EventSourcePollerEvent.js';
import type { HandlerLocation } from '../local/lambda/executionEnvironmentProtocol.js';
import type { ExecutionEnvironmentEvent } from '../local/lambda/startExecutionEnvironments.js';
import { workerPlugin } from '../local/lambda/WorkerPlugin.js';
import { type LocalPipeline, startLocalPipeline } from '../local/pipeline/startLocalPipeline.js';
import type { AwsCallsEvent } from './plugins/countAwsCalls.js';
import type { DecisionEvent } from './plugins/reportDecisions.js';

/**
 * The local pipeline (startLocalPipeline: emulators, poller, and the function in execution environments of
 * its own) with what the benchmarks read off it: each invocation's duration as its environment measured it
 * (Lambda's Duration: the function's own work plus its waits on AWS and kycert, never the emulators' CPU,
 * which is this process's), the function's AWS calls by command (a plugin in the environments), and the
 * event source's calls (the poller's). The worker runs as deployed: INFO logs and EMF metrics, written to its
 * stdout, which goes to /dev/null as Lambda's goes to a pipe.
 */
export interface MeasuredPipelineOptions {
  kycert: { baseUrl: string; apiKey: string };
  /**
   * `worker` (the real handler), the in-function retry loop of referenceRetryLoop.ts (`reference`), or another
   * module's export (80d7c5d's unpacked bundle, for P3), which gets no plugins. @default 'worker'
   */
  handler?: 'worker' | 'reference' | HandlerLocation;
  /** @default 2 */
  concurrency?: number;
  /** @default concurrency */
  environments?: number;
  /** @default 10 */
  batchSize?: number;
  /** @default 4 */
  maxAttempts?: number;
  /** The main queue's redrive maxReceiveCount. @default as deployed */
  maxReceiveCount?: number;
  /** Extra worker environment (e.g. KYCERT_THROTTLE_THRESHOLD). */
  workerEnv?: Record<string, string>;
  /** Called with every `decision` log entry the worker writes (it is still written). */
  onDecision?: (attributes: DecisionEvent['decision'], atMs: number) => void;
}

export interface InvocationRecord {
  durationMs: number;
  records: number;
  failedRecords: number;
}

export interface BenchCounters {
  invocations: InvocationRecord[];
  /** The worker's own AWS calls, by command name (`UpdateItemCommand`…). */
  workerCalls: Record<string, number>;
  /** The event source's calls, which Lambda makes, not the function. */
  eventSourceCalls: { receiveMessage: number; deleteMessageBatch: number };
  /** Records the event source received: every delivery of every message (a message received 3 times counts 3). */
  recordsReceived: number;
}

export interface MeasuredPipeline {
  readonly pipeline: LocalPipeline;
  enqueue(bodies: readonly string[]): Promise<void>;
  /** Resolves true once the main queue is empty and no invocation runs; false on timeout. */
  waitUntilSettled(timeoutMs: number): Promise<boolean>;
  /** What happened since the last `resetCounters()`. */
  counters(): BenchCounters;
  resetCounters(): void;
  stop(): Promise<void>;
}

const REFERENCE_HANDLER = {
  module: fileURLToPath(new URL('./referenceHandler.ts', import.meta.url)),
  export: 'handler',
};

export async function startMeasuredPipeline(options: MeasuredPipelineOptions): Promise<MeasuredPipeline> {
  let workerCalls = new Map<string, number>();
  let invocations: InvocationRecord[] = [];
  let deleteCalls = 0;
  let receiveBase = 0;
  let recordsReceivedBase = 0;
  const handler = options.handler ?? 'worker';
  const worker = handler === 'worker';
  const concurrency = options.concurrency ?? 2;

  const onPollerEvent = (event: EventSourcePollerEvent) => {
    if (event.type === 'invocationFinished') {
      invocations.push({
        durationMs: event.functionDurationMs ?? event.durationMs,
        records: event.messageIds.length,
        failedRecords: event.failedMessageIds.length,
      });
    } else if (event.type === 'recordsDeleted' || event.type === 'deleteFailed') {
      deleteCalls++;
    }
  };
  const onEnvironmentEvent = (event: ExecutionEnvironmentEvent) => {
    if (event.type !== 'pluginEvent') return;
    if (event.plugin === 'countAwsCalls.ts') {
      for (const [command, count] of Object.entries((event.data as AwsCallsEvent).awsCalls)) {
        workerCalls.set(command, (workerCalls.get(command) ?? 0) + count);
      }
    } else if (event.plugin === 'reportDecisions.ts') {
      const { decision, atMs } = event.data as DecisionEvent;
      options.onDecision?.(decision, atMs);
    }
  };
  const pipeline = await startLocalPipeline({
    kycert: options.kycert,
    concurrency,
    environments: options.environments ?? concurrency,
    batchSize: options.batchSize ?? 10,
    maxAttempts: options.maxAttempts ?? 4,
    maxReceiveCount: options.maxReceiveCount,
    logLevel: 'INFO',
    workerEnv: { POWERTOOLS_METRICS_DISABLED: 'false', ...options.workerEnv },
    workerOutput: 'ignore',
    ...(worker
      ? {
          plugins: [
            workerPlugin<typeof import('./plugins/countAwsCalls.js').default>(
              new URL('./plugins/countAwsCalls.ts', import.meta.url),
              null,
            ),
            ...(options.onDecision === undefined
              ? []
              : [
                  workerPlugin<typeof import('./plugins/reportDecisions.js').default>(
                    new URL('./plugins/reportDecisions.ts', import.meta.url),
                    null,
                  ),
                ]),
          ],
        }
      : { handler: handler === 'reference' ? REFERENCE_HANDLER : (handler as HandlerLocation) }),
    onPollerEvent,
    onEnvironmentEvent,
  });

  return {
    pipeline,
    async enqueue(bodies) {
      await pipeline.enqueue(bodies);
    },
    waitUntilSettled: (timeoutMs) => pipeline.waitUntilSettled({ timeoutMs, pollMs: 100 }),
    counters: () => ({
      invocations: [...invocations],
      workerCalls: Object.fromEntries(workerCalls),
      eventSourceCalls: {
        receiveMessage: pipeline.poller.stats().receiveRequests - receiveBase,
        deleteMessageBatch: deleteCalls,
      },
      recordsReceived: pipeline.poller.stats().recordsReceived - recordsReceivedBase,
    }),
    resetCounters() {
      workerCalls = new Map();
      invocations = [];
      deleteCalls = 0;
      receiveBase = pipeline.poller.stats().receiveRequests;
      recordsReceivedBase = pipeline.poller.stats().recordsReceived;
    },
    stop: () => pipeline.stop(),
  };
}
