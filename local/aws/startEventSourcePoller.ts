import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { createLambdaContext } from './createLambdaContext.js';
import {
  BatchFailureReason,
  type EventSourcePollerEvent,
  type EventSourcePollerStats,
} from './EventSourcePollerEvent.js';
import { EventSourceMappingError } from './errors.js';
import { type FunctionInvoker, inProcessInvoker, type ReservedEnvironment } from './FunctionInvoker.js';
import { interpretBatchResponse } from './interpretBatchResponse.js';
import { type EventSource, toSqsRecord } from './toSqsRecord.js';

/**
 * A Lambda handler for SQS events, as `functions/kycert-worker/handler.ts` exports it. The return type is
 * open on purpose: Lambda accepts any value and reads it as an `SQSBatchResponse`, judging bad shapes itself.
 */
export type SqsLambdaHandler = (event: SQSEvent, context: Context) => unknown;

export interface EventSourcePollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  /**
   * The function behind the mapping, exactly one of: its execution environments (`invoker`, as the local
   * pipeline runs the worker), or a handler called in this process (`handler`, for tests of the poller).
   */
  readonly invoker?: FunctionInvoker;
  readonly handler?: SqsLambdaHandler;
  /**
   * The function's timeout: `context.getRemainingTimeInMillis()` counts down from it, and a handler still
   * running when it ends fails its whole batch. Lambda's range, 1–900 s; it must not exceed the queue's
   * visibility timeout (Lambda refuses that mapping too).
   */
  readonly functionTimeoutSeconds: number;
  /** Records per invocation, 1–10 (one ReceiveMessage's worth). @default 10 */
  readonly batchSize?: number;
  /** How long to keep gathering records for a batch that is not full yet, 0–300 s. @default 0 s */
  readonly maximumBatchingWindowSeconds?: number;
  /** Invocations running at once (the mapping's MaximumConcurrency). @default 2 */
  readonly concurrency?: number;
  /**
   * ReceiveMessage long-poll wait, 1–20 s. Lambda waits 20 s; a short wait lets `stop()` return quickly,
   * since a poll in flight is allowed to finish rather than be cut off with messages in it. @default 1 s
   */
  readonly waitTimeSeconds?: number;
  /**
   * Whether the function reports partial failures (FunctionResponseTypes: ReportBatchItemFailures). Without
   * it, Lambda ignores the response and deletes the whole batch when the handler returns. @default true
   */
  readonly reportBatchItemFailures?: boolean;
  /** @default 'kycert-worker' */
  readonly functionName?: string;
  /** Reported as `context.memoryLimitInMB`. @default 128 MB */
  readonly memorySizeMb?: number;
  /** Called synchronously for every event; a listener that throws is reported and ignored. */
  readonly onEvent?: (event: EventSourcePollerEvent) => void;
}

export interface EventSourcePoller {
  /** The queue's ARN, as records carry it in `eventSourceARN`. */
  readonly eventSourceArn: string;
  /**
   * Stops polling: polls in flight finish (at most `waitTimeSeconds`) and what they bring is made visible
   * again untouched; invocations in flight finish and their records are deleted as usual. A handler that
   * already timed out is not waited for. Safe to call twice.
   */
  stop(): Promise<void>;
  stats(): EventSourcePollerStats;
}

const defaults = {
  batchSize: 10,
  maximumBatchingWindowSeconds: 0,
  concurrency: 2,
  waitTimeSeconds: 1,
  reportBatchItemFailures: true,
  functionName: 'kycert-worker',
  memorySizeMb: 128,
} as const;

/** Pause after a failed ReceiveMessage, so an emulator that went away is not hammered. */
const RECEIVE_RETRY_DELAY_MS = 1_000;

/**
 * Lambda's SQS event source mapping, in this process: long-polls the queue, hands each batch with Lambda's
 * event and context to a free execution environment (or an in-process handler), deletes what succeeded and
 * leaves the rest to the visibility timeout. It never changes
 * a message's visibility itself; retries happen because undeleted messages reappear.
 */
export async function startEventSourcePoller(options: EventSourcePollerOptions): Promise<EventSourcePoller> {
  const { sqs, queueUrl } = options;
  const settings = validateSettings(options);
  const invoker = options.invoker ?? (options.handler && inProcessInvoker(options.handler));
  if (invoker === undefined || (options.invoker !== undefined && options.handler !== undefined)) {
    throw new EventSourceMappingError(queueUrl, 'give exactly one of invoker and handler');
  }
  const source = await describeEventSource(sqs, queueUrl, settings.functionTimeoutSeconds);

  const counters = {
    receiveRequests: 0,
    receiveErrors: 0,
    recordsReceived: 0,
    recordsDeleted: 0,
    recordsReturned: 0,
    invocations: 0,
    invocationsInFlight: 0,
    maxInvocationsInFlight: 0,
    handlerErrors: 0,
    handlerTimeouts: 0,
    runtimeExits: 0,
    invalidResponses: 0,
    deleteErrors: 0,
  };
  let stopping = false;
  const stopSignal = new AbortController();

  const emit = (event: EventSourcePollerEvent): void => {
    try {
      options.onEvent?.(event);
    } catch (error) {
      // The listener is for observation; its bug must not strand records mid-batch.
      console.error(`event source poller for ${queueUrl}: onEvent threw on ${event.type}`, error);
    }
  };

  const receive = async (maxMessages: number, waitTimeSeconds: number): Promise<Message[]> => {
    counters.receiveRequests++;
    try {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: maxMessages,
          WaitTimeSeconds: waitTimeSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      counters.recordsReceived += Messages.length;
      return Messages;
    } catch (error) {
      counters.receiveErrors++;
      emit({ type: 'receiveFailed', error });
      await sleep(RECEIVE_RETRY_DELAY_MS, undefined, { signal: stopSignal.signal }).catch(() => {
        // Aborted by stop(): the loop checks `stopping` next.
      });
      return [];
    }
  };

  /** One batch: a single poll, or with a batching window, polls until it is full or the window closes. */
  const receiveBatch = async (): Promise<Message[]> => {
    const batch: Message[] = [];
    let windowEndsAtMs: number | undefined;
    while (batch.length < settings.batchSize) {
      let waitTimeSeconds = settings.waitTimeSeconds;
      if (windowEndsAtMs !== undefined) {
        const remainingMs = windowEndsAtMs - Date.now();
        if (remainingMs <= 0 || stopping) {
          break;
        }
        // Whole seconds only; a poll returns as soon as a message arrives, so rounding up costs little.
        waitTimeSeconds = Math.min(waitTimeSeconds, Math.ceil(remainingMs / 1000));
      }
      batch.push(...(await receive(settings.batchSize - batch.length, waitTimeSeconds)));
      if (batch.length === 0 || settings.maximumBatchingWindowSeconds === 0) {
        break;
      }
      windowEndsAtMs ??= Date.now() + settings.maximumBatchingWindowSeconds * 1000;
    }
    return batch;
  };

  const deleteRecords = async (awsRequestId: string, records: readonly SQSRecord[]): Promise<void> => {
    try {
      const { Successful = [], Failed = [] } = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: records.map((record, index) => ({
            Id: String(index),
            ReceiptHandle: record.receiptHandle,
          })),
        }),
      );
      const messageIdOf = (entryId: string | undefined) =>
        records[Number(entryId)]?.messageId ?? `entry ${entryId}`;
      if (Successful.length > 0) {
        counters.recordsDeleted += Successful.length;
        emit({
          type: 'recordsDeleted',
          awsRequestId,
          messageIds: Successful.map((entry) => messageIdOf(entry.Id)),
        });
      }
      if (Failed.length > 0) {
        counters.deleteErrors += Failed.length;
        const details = Failed.map(
          (entry) => `${messageIdOf(entry.Id)}: ${entry.Code} ${entry.Message ?? ''}`,
        );
        emit({
          type: 'deleteFailed',
          awsRequestId,
          messageIds: Failed.map((entry) => messageIdOf(entry.Id)),
          error: new Error(`DeleteMessageBatch on ${queueUrl} failed for ${details.join('; ')}`),
        });
      }
    } catch (error) {
      counters.deleteErrors += records.length;
      emit({
        type: 'deleteFailed',
        awsRequestId,
        messageIds: records.map((record) => record.messageId),
        error,
      });
    }
  };

  const invoke = async (environment: ReservedEnvironment, messages: readonly Message[]): Promise<void> => {
    let records: SQSRecord[];
    try {
      records = messages.map((message) => toSqsRecord(message, source));
    } catch (error) {
      // Cannot happen with `All` attributes; if it does, the messages come back and end in the DLQ.
      environment.release();
      counters.receiveErrors++;
      emit({ type: 'receiveFailed', error });
      return;
    }
    const context = createLambdaContext({
      functionName: settings.functionName,
      functionTimeoutSeconds: settings.functionTimeoutSeconds,
      region: source.awsRegion,
      memorySizeMb: settings.memorySizeMb,
    });
    const { awsRequestId } = context;
    const messageIds = records.map((record) => record.messageId);
    counters.invocations++;
    counters.invocationsInFlight++;
    counters.maxInvocationsInFlight = Math.max(counters.maxInvocationsInFlight, counters.invocationsInFlight);
    emit({ type: 'invocationStarted', awsRequestId, messageIds });
    const startedAtMs = performance.now();
    const outcome = await environment.invoke(
      { Records: records },
      context,
      settings.functionTimeoutSeconds * 1000,
    );
    counters.invocationsInFlight--;
    const durationMs = performance.now() - startedAtMs;
    const where = {
      ...(outcome.environment === undefined ? {} : { environment: outcome.environment }),
      ...(outcome.functionDurationMs === undefined ? {} : { functionDurationMs: outcome.functionDurationMs }),
    };

    let failedMessageIds: readonly string[];
    if (outcome.kind === 'returned') {
      const verdict = settings.reportBatchItemFailures
        ? interpretBatchResponse(outcome.response, messageIds)
        : ({ kind: 'allSucceeded' } as const);
      if (verdict.kind === 'invalid') {
        counters.invalidResponses++;
        failedMessageIds = messageIds;
        emit({
          type: 'invocationFinished',
          awsRequestId,
          messageIds,
          outcome: 'failed',
          failedMessageIds,
          failureReason: BatchFailureReason.invalidResponse,
          error: new Error(`invalid batch response from ${settings.functionName}: ${verdict.reason}`),
          durationMs,
          ...where,
        });
      } else {
        failedMessageIds = verdict.kind === 'someFailed' ? verdict.failedMessageIds : [];
        emit({
          type: 'invocationFinished',
          awsRequestId,
          messageIds,
          outcome: failedMessageIds.length === 0 ? 'succeeded' : 'partiallyFailed',
          failedMessageIds,
          durationMs,
          ...where,
        });
      }
    } else {
      failedMessageIds = messageIds;
      const failure = {
        threw: { counter: 'handlerErrors', reason: BatchFailureReason.handlerError },
        timedOut: { counter: 'handlerTimeouts', reason: BatchFailureReason.timeout },
        runtimeExited: { counter: 'runtimeExits', reason: BatchFailureReason.runtimeExit },
      } as const satisfies Record<
        typeof outcome.kind,
        { counter: keyof typeof counters; reason: BatchFailureReason }
      >;
      counters[failure[outcome.kind].counter]++;
      emit({
        type: 'invocationFinished',
        awsRequestId,
        messageIds,
        outcome: 'failed',
        failedMessageIds,
        failureReason: failure[outcome.kind].reason,
        ...(outcome.kind === 'timedOut' ? {} : { error: outcome.error }),
        durationMs,
        ...where,
      });
    }
    counters.recordsReturned += failedMessageIds.length;
    const failed = new Set(failedMessageIds);
    const succeeded = records.filter((record) => !failed.has(record.messageId));
    if (succeeded.length > 0) {
      await deleteRecords(awsRequestId, succeeded);
    }
  };

  /** Messages received while stopping go back at once rather than after their visibility timeout. */
  const release = async (messages: readonly Message[]): Promise<void> => {
    const messageIds = messages.map((message) => message.MessageId ?? '(no id)');
    try {
      const { Failed = [] } = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
      emit({
        type: 'recordsReleased',
        messageIds,
        ...(Failed.length > 0
          ? { error: new Error(`ChangeMessageVisibilityBatch on ${queueUrl}: ${JSON.stringify(Failed)}`) }
          : {}),
      });
    } catch (error) {
      emit({ type: 'recordsReleased', messageIds, error });
    }
  };

  const work = async (): Promise<void> => {
    while (!stopping) {
      const environment = await invoker.reserve(stopSignal.signal);
      if (environment === undefined) {
        return;
      }
      let messages: Message[] = [];
      try {
        messages = await receiveBatch();
      } finally {
        if (messages.length === 0) environment.release();
      }
      if (messages.length === 0) {
        continue;
      }
      if (stopping) {
        environment.release();
        await release(messages);
        return;
      }
      await invoke(environment, messages);
    }
  };

  // One loop per concurrency slot: a loop only polls once its previous invocation is over and it holds a
  // free execution environment, so no message is ever held invisible while it waits for either.
  const workers = Array.from({ length: settings.concurrency }, () =>
    work().catch((error: unknown) => {
      console.error(
        `event source poller for ${queueUrl}: a polling loop stopped on an unexpected error`,
        error,
      );
    }),
  );
  let stopped: Promise<void> | undefined;
  return {
    eventSourceArn: source.eventSourceArn,
    stop() {
      if (stopped === undefined) {
        stopping = true;
        stopSignal.abort();
        stopped = Promise.all(workers).then(() => undefined);
      }
      return stopped;
    },
    stats: () => ({ ...counters }),
  };
}

function validateSettings(options: EventSourcePollerOptions) {
  const settings = {
    functionTimeoutSeconds: options.functionTimeoutSeconds,
    batchSize: options.batchSize ?? defaults.batchSize,
    maximumBatchingWindowSeconds:
      options.maximumBatchingWindowSeconds ?? defaults.maximumBatchingWindowSeconds,
    concurrency: options.concurrency ?? defaults.concurrency,
    waitTimeSeconds: options.waitTimeSeconds ?? defaults.waitTimeSeconds,
    reportBatchItemFailures: options.reportBatchItemFailures ?? defaults.reportBatchItemFailures,
    functionName: options.functionName ?? defaults.functionName,
    memorySizeMb: options.memorySizeMb ?? defaults.memorySizeMb,
  };
  const ranges: ReadonlyArray<
    readonly [name: string, value: number, min: number, max: number, unit: string]
  > = [
    ['functionTimeoutSeconds', settings.functionTimeoutSeconds, 1, 900, ' s'],
    ['batchSize', settings.batchSize, 1, 10, ' records'],
    ['maximumBatchingWindowSeconds', settings.maximumBatchingWindowSeconds, 0, 300, ' s'],
    ['concurrency', settings.concurrency, 1, 1_000, ' invocations'],
    ['waitTimeSeconds', settings.waitTimeSeconds, 1, 20, ' s'],
  ];
  for (const [name, value, min, max, unit] of ranges) {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new EventSourceMappingError(
        options.queueUrl,
        `${name} must be an integer from ${min} to ${max}${unit}, got ${value}`,
      );
    }
  }
  return settings;
}

/** The queue's ARN, and the check Lambda makes when the mapping is created. */
async function describeEventSource(
  sqs: SQSClient,
  queueUrl: string,
  functionTimeoutSeconds: number,
): Promise<EventSource> {
  let attributes: Record<string, string> | undefined;
  try {
    ({ Attributes: attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['QueueArn', 'VisibilityTimeout'],
      }),
    ));
  } catch (error) {
    throw new EventSourceMappingError(queueUrl, 'the queue does not exist or cannot be read', {
      cause: error,
    });
  }
  const eventSourceArn = attributes?.QueueArn;
  const visibilityTimeoutSeconds = Number(attributes?.VisibilityTimeout);
  const awsRegion = eventSourceArn?.split(':')[3];
  if (eventSourceArn === undefined || awsRegion === undefined || Number.isNaN(visibilityTimeoutSeconds)) {
    throw new EventSourceMappingError(queueUrl, `unexpected queue attributes ${JSON.stringify(attributes)}`);
  }
  if (visibilityTimeoutSeconds < functionTimeoutSeconds) {
    // Otherwise a record would reappear, and be processed twice, while its first invocation still runs.
    throw new EventSourceMappingError(
      queueUrl,
      `queue visibility timeout ${visibilityTimeoutSeconds} s is less than the function timeout ${functionTimeoutSeconds} s`,
    );
  }
  return { eventSourceArn, awsRegion };
}
