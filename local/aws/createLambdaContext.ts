import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface LambdaContextOptions {
  readonly functionName: string;
  readonly functionTimeoutSeconds: number;
  readonly region: string;
  /** @default 128 MB */
  readonly memorySizeMb?: number;
  /** @default Date.now */
  readonly nowMs?: () => number;
}

/** What a `Context` says, without its methods: what crosses from the event source to an execution environment. */
export interface LambdaContextFields {
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** When the function timeout ends, in epoch milliseconds (Lambda's `Lambda-Runtime-Deadline-Ms`). */
  readonly deadlineMs: number;
}

/** The account id every local ARN uses, as fauxqs does. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/**
 * A Lambda `Context` for one invocation: its clock starts now and runs out after the function timeout.
 * The deprecated `done`/`fail`/`succeed` throw: the Node.js 24 runtime only supports promise handlers.
 */
export function createLambdaContext(options: LambdaContextOptions): Context {
  const nowMs = options.nowMs ?? Date.now;
  const today = new Date(nowMs()).toISOString().slice(0, 10).replaceAll('-', '/');
  return lambdaContext(
    {
      functionName: options.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${options.region}:${LOCAL_ACCOUNT_ID}:function:${options.functionName}`,
      memoryLimitInMB: String(options.memorySizeMb ?? 128),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${options.functionName}`,
      logStreamName: `${today}/[$LATEST]${randomBytes(16).toString('hex')}`,
      deadlineMs: nowMs() + options.functionTimeoutSeconds * 1000,
    },
    nowMs,
  );
}

/** The `Context` of these fields, its remaining time counted down to `deadlineMs` on `nowMs`. */
export function lambdaContext(fields: LambdaContextFields, nowMs: () => number = Date.now): Context {
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is not supported: return a promise from the handler instead`);
  };
  const { deadlineMs, ...described } = fields;
  return {
    callbackWaitsForEmptyEventLoop: true,
    ...described,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - nowMs()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}
