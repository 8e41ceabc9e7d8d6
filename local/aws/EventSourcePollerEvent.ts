import type { ExecutionEnvironmentInfo } from './FunctionInvoker.js';

/** Why the event source mapping deleted nothing from a batch. */
export const BatchFailureReason = {
  handlerError: 'handlerError',
  timeout: 'timeout',
  invalidResponse: 'invalidResponse',
  /** The execution environment's process ended mid-invocation (Lambda's `Runtime.ExitError`). */
  runtimeExit: 'runtimeExit',
} as const;
export type BatchFailureReason = (typeof BatchFailureReason)[keyof typeof BatchFailureReason];

/**
 * What the poller reports as it works, for progress displays and metrics. Message ids name the records
 * each event concerns; `awsRequestId` ties an invocation's events together.
 */
export type EventSourcePollerEvent =
  | {
      readonly type: 'invocationStarted';
      readonly awsRequestId: string;
      readonly messageIds: readonly string[];
    }
  | {
      readonly type: 'invocationFinished';
      readonly awsRequestId: string;
      readonly messageIds: readonly string[];
      /** `partiallyFailed`: the handler listed some records in `batchItemFailures`. */
      readonly outcome: 'succeeded' | 'partiallyFailed' | 'failed';
      /** The records left to their visibility timeout: the listed ones, or all of them when `failed`. */
      readonly failedMessageIds: readonly string[];
      readonly failureReason?: BatchFailureReason;
      /** The handler's error (`handlerError`, `runtimeExit`) or a description of the bad response (`invalidResponse`). */
      readonly error?: unknown;
      /** From the batch handed over until the outcome was known, as the poller timed it. */
      readonly durationMs: number;
      /** The execution environment that ran it, when the function runs in environments of its own. */
      readonly environment?: ExecutionEnvironmentInfo;
      /** The handler's own time, measured inside its environment (Lambda's `Duration`); see InvocationResult. */
      readonly functionDurationMs?: number;
    }
  | { readonly type: 'recordsDeleted'; readonly awsRequestId: string; readonly messageIds: readonly string[] }
  /** Deleting failed: these records come back after their visibility timeout and are processed again. */
  | {
      readonly type: 'deleteFailed';
      readonly awsRequestId: string;
      readonly messageIds: readonly string[];
      readonly error: unknown;
    }
  /** ReceiveMessage failed; the poller waits and tries again. */
  | { readonly type: 'receiveFailed'; readonly error: unknown }
  /** Received while stopping, never invoked, and made visible again at once. */
  | { readonly type: 'recordsReleased'; readonly messageIds: readonly string[]; readonly error?: unknown };

export interface EventSourcePollerStats {
  readonly receiveRequests: number;
  readonly receiveErrors: number;
  readonly recordsReceived: number;
  readonly recordsDeleted: number;
  /** Records left to their visibility timeout: reported failures and every record of failed batches. */
  readonly recordsReturned: number;
  readonly invocations: number;
  readonly invocationsInFlight: number;
  readonly maxInvocationsInFlight: number;
  readonly handlerErrors: number;
  readonly handlerTimeouts: number;
  /** Invocations whose execution environment exited under them. */
  readonly runtimeExits: number;
  readonly invalidResponses: number;
  readonly deleteErrors: number;
}
