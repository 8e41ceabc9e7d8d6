import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { createHandler } from '../functions/kycert-worker/handler.js';
import type { WorkerDeps } from '../functions/kycert-worker/processRecord.js';
import type { EventSourcePollerEvent } from '../local/aws/EventSourcePollerEvent.js';
import {
  type EventSourcePoller,
  type SqsLambdaHandler,
  startEventSourcePoller,
} from '../local/aws/startEventSourcePoller.js';
import { queueDepth } from '../local/pipeline/startLocalPipeline.js';
import { type LocalAwsProcess, startLocalAwsProcess } from './startLocalAwsProcess.js';
import { benchAwsClients, benchWorkerDeps, type WorkerAwsClients } from './workerDeps.js';

/**
 * The local pipeline's parts (SQS and DynamoDB emulators, the Lambda-like event-source poller, the worker's
 * real handler and dependencies) wired like `local/pipeline/startLocalPipeline.ts`, with what the benchmarks
 * need on top: the emulators in a child process (their CPU is AWS's, not the function's), the worker's AWS calls counted by command, invocation durations kept, and either the worker or
 * another handler (the reference retry loop) behind the poller. The worker's configuration is passed in,
 * never written to `process.env`, so two pipelines (throttle on and off, ours and the reference) can run in
 * one process at the same time.
 */
export interface BenchPipelineOptions {
  kycert: { baseUrl: string; apiKey: string };
  /** `worker` (the real handler) or any other SQS handler. @default 'worker' */
  handler?: 'worker' | SqsLambdaHandler;
  /** @default 2 */
  concurrency?: number;
  /** @default 10 */
  batchSize?: number;
  /** @default 30 s */
  functionTimeoutSeconds?: number;
  /** @default 4 */
  maxAttempts?: number;
  /** Extra worker environment (e.g. KYCERT_THROTTLE_THRESHOLD). */
  workerEnv?: Record<string, string>;
  /** Called with the attributes of every `decision` log entry the worker writes (it is still written). */
  onDecision?: (attributes: Record<string, unknown>) => void;
}

export interface InvocationRecord {
  durationMs: number;
  records: number;
  failedRecords: number;
}

export interface BenchPipeline {
  readonly aws: LocalAwsProcess;
  readonly poller: EventSourcePoller;
  /** Absent when another handler runs. */
  readonly workerDeps: WorkerDeps | undefined;
  enqueue(bodies: readonly string[]): Promise<void>;
  /** Resolves true once the main queue is empty and no invocation runs; false on timeout. */
  waitUntilSettled(timeoutMs: number): Promise<boolean>;
  /** What happened since the last `resetCounters()`. */
  counters(): BenchCounters;
  resetCounters(): void;
  stop(): Promise<void>;
}

export interface BenchCounters {
  invocations: InvocationRecord[];
  /** The worker's own AWS calls, by command name (`UpdateItemCommand`…). */
  workerCalls: Record<string, number>;
  /** The event source's calls, which Lambda makes, not the function. */
  eventSourceCalls: { receiveMessage: number; deleteMessageBatch: number };
}

export async function startBenchPipeline(options: BenchPipelineOptions): Promise<BenchPipeline> {
  const functionTimeoutSeconds = options.functionTimeoutSeconds ?? 30;
  const aws = await startLocalAwsProcess({
    maxAttempts: options.maxAttempts ?? 4,
    visibilityTimeoutSeconds: 6 * functionTimeoutSeconds,
  });
  try {
    let workerCalls = new Map<string, number>();
    let invocations: InvocationRecord[] = [];
    let deleteCalls = 0;
    let receiveBase = 0;

    let workerDeps: WorkerDeps | undefined;
    let handler: SqsLambdaHandler;
    if (options.handler === undefined || options.handler === 'worker') {
      const clients = benchAwsClients({
        sqsEndpoint: aws.sqsEndpoint,
        dynamodbEndpoint: aws.dynamodbEndpoint,
        region: aws.region,
      });
      countCommands(clients, (command) => workerCalls.set(command, (workerCalls.get(command) ?? 0) + 1));
      const deps = benchWorkerDeps(
        {
          ...aws.env,
          KYCERT_BASE_URL: options.kycert.baseUrl,
          KYCERT_API_KEY: options.kycert.apiKey,
          BACKOFF_BASE_SECONDS: '1',
          BACKOFF_MAX_SECONDS: '4',
          HTTP_TIMEOUT_MS: '5000',
          ...options.workerEnv,
        },
        clients,
      );
      const onDecision = options.onDecision;
      if (onDecision !== undefined) {
        const info = deps.logger.info.bind(deps.logger);
        deps.logger.info = ((message: unknown, ...extra: unknown[]) => {
          if (message === 'decision')
            onDecision(Object.assign({}, ...extra.filter((e) => typeof e === 'object')));
          return info(message as string, ...(extra as []));
        }) as typeof deps.logger.info;
      }
      workerDeps = deps;
      handler = createHandler(() => deps);
    } else {
      handler = options.handler;
    }

    const onEvent = (event: EventSourcePollerEvent) => {
      if (event.type === 'invocationFinished') {
        invocations.push({
          durationMs: event.durationMs,
          records: event.messageIds.length,
          failedRecords: event.failedMessageIds.length,
        });
      } else if (event.type === 'recordsDeleted' || event.type === 'deleteFailed') {
        deleteCalls++;
      }
    };
    const poller = await startEventSourcePoller({
      sqs: aws.clients.sqs,
      queueUrl: aws.queueUrl,
      handler,
      functionTimeoutSeconds,
      batchSize: options.batchSize ?? 10,
      concurrency: options.concurrency ?? 2,
      waitTimeSeconds: 1,
      onEvent,
    });

    return {
      aws,
      poller,
      workerDeps,
      async enqueue(bodies) {
        for (let start = 0; start < bodies.length; start += 10) {
          const { Failed = [] } = await aws.clients.sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: aws.queueUrl,
              Entries: bodies
                .slice(start, start + 10)
                .map((body, i) => ({ Id: String(i), MessageBody: body })),
            }),
          );
          if (Failed.length > 0) throw new Error(`SQS refused ${Failed.length} bench message(s)`);
        }
      },
      async waitUntilSettled(timeoutMs) {
        const deadlineMs = Date.now() + timeoutMs;
        for (;;) {
          if (
            (await queueDepth(aws.clients.sqs, aws.queueUrl)) === 0 &&
            poller.stats().invocationsInFlight === 0
          )
            return true;
          if (Date.now() >= deadlineMs) return false;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      counters: () => ({
        invocations: [...invocations],
        workerCalls: Object.fromEntries(workerCalls),
        eventSourceCalls: {
          receiveMessage: poller.stats().receiveRequests - receiveBase,
          deleteMessageBatch: deleteCalls,
        },
      }),
      resetCounters() {
        workerCalls = new Map();
        invocations = [];
        deleteCalls = 0;
        receiveBase = poller.stats().receiveRequests;
      },
      async stop() {
        await poller.stop();
        await (workerDeps?.kycert as { close?: () => Promise<void> } | undefined)?.close?.();
        await aws.stop();
      },
    };
  } catch (error) {
    await aws.stop();
    throw error;
  }
}

/** Calls `count` with the command name of every command sent through either client. */
function countCommands(clients: WorkerAwsClients, count: (command: string) => void): void {
  const options = { step: 'initialize', name: 'benchCountCommands' } as const;
  clients.sqs.middlewareStack.add(
    (next, context) => async (args) => {
      count(String(context.commandName));
      return next(args);
    },
    options,
  );
  clients.dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      count(String(context.commandName));
      return next(args);
    },
    options,
  );
}
