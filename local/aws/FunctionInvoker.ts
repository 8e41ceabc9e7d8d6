import type { Context, SQSEvent } from 'aws-lambda';
import { type InvocationOutcome, invokeWithTimeout } from './invokeWithTimeout.js';

/** The execution environment an invocation ran in, as it reported itself. */
export interface ExecutionEnvironmentInfo {
  readonly id: number;
  readonly pid: number;
  /** The environment's first invocation: its init (module load, clients) was just done. */
  readonly coldStart: boolean;
}

/** How an invocation ended, and where it ran when it ran in an execution environment of its own. */
export type InvocationResult = InvocationOutcome & {
  readonly environment?: ExecutionEnvironmentInfo;
  /**
   * The handler's own time, measured inside the environment from the event handed over to the response
   * (Lambda's `Duration`). Absent when the environment was killed or exited.
   */
  readonly functionDurationMs?: number;
};

/**
 * Where the event source mapping's invocations run. Lambda hands each batch to a free execution environment
 * that runs one invocation at a time; a mapping's polling loop reserves one before it polls, so no record is
 * held invisible while it waits for a free environment.
 */
export interface FunctionInvoker {
  /** Resolves with an environment held for the caller once one is free, or undefined once `signal` aborts. */
  reserve(signal: AbortSignal): Promise<ReservedEnvironment | undefined>;
}

export interface ReservedEnvironment {
  /** Runs one invocation and frees the environment. Never rejects. */
  invoke(event: SQSEvent, context: Context, timeoutMs: number): Promise<InvocationResult>;
  /** Frees the environment unused (the poll brought nothing). */
  release(): void;
}

/**
 * A handler called in this very process: every reservation is granted at once (the poller's own
 * `concurrency` bounds it), and a timed-out handler is abandoned rather than killed. For tests of the poller.
 */
export function inProcessInvoker(handler: (event: SQSEvent, context: Context) => unknown): FunctionInvoker {
  const reserved: ReservedEnvironment = {
    invoke: (event, context, timeoutMs) => invokeWithTimeout(() => handler(event, context), timeoutMs),
    release: () => undefined,
  };
  return { reserve: async (signal) => (signal.aborted ? undefined : reserved) };
}
