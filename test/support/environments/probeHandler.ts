import type { Context, SQSEvent } from 'aws-lambda';

/**
 * A handler for the execution environments' own tests: it does what its first record's body asks (sleep,
 * throw, exit the process) and answers with what it can see of its environment, so that tests can tell
 * environments and their module state apart.
 */
export interface ProbeCommand {
  sleepMs?: number;
  throwMessage?: string;
  exitCode?: number;
}

export interface ProbeAnswer {
  pid: number;
  /** Invocations this module has seen, this one included: module state, one per environment. */
  invocations: number;
  /** Whether the module was loaded just for this invocation's environment (its first invocation). */
  coldStart: boolean;
  env: { PROBE_SETTING: string | null; PARENT_ONLY: string | null; AWS_LAMBDA_FUNCTION_NAME: string | null };
  context: { awsRequestId: string; functionName: string; logStreamName: string; remainingMs: number };
  startedAtMs: number;
  endedAtMs: number;
}

let invocations = 0;

export const handler = async (event: SQSEvent, context: Context): Promise<ProbeAnswer> => {
  const startedAtMs = Date.now();
  invocations++;
  const command = JSON.parse(event.Records[0]?.body ?? '{}') as ProbeCommand;
  if (command.exitCode !== undefined) process.exit(command.exitCode);
  if (command.throwMessage !== undefined) throw new TypeError(command.throwMessage);
  if (command.sleepMs !== undefined) await new Promise((resolve) => setTimeout(resolve, command.sleepMs));
  return {
    pid: process.pid,
    invocations,
    coldStart: invocations === 1,
    env: {
      PROBE_SETTING: process.env.PROBE_SETTING ?? null,
      PARENT_ONLY: process.env.PARENT_ONLY ?? null,
      AWS_LAMBDA_FUNCTION_NAME: process.env.AWS_LAMBDA_FUNCTION_NAME ?? null,
    },
    context: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      logStreamName: context.logStreamName,
      remainingMs: context.getRemainingTimeInMillis(),
    },
    startedAtMs,
    endedAtMs: Date.now(),
  };
};
