import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import type { WorkerPluginFactory } from '../../local/lambda/WorkerPlugin.js';
import { createInMemoryAwsHandler } from './inMemoryAwsHandler.js';
import { patchSdkSend } from './patchSdkSend.js';

/** The AWS operations answered in memory during one invocation (`UpdateItem`…), in `inMemory` mode. */
export type InMemoryCallsEvent = { operations: Record<string, number> };

/**
 * P1: the worker's AWS clients answered without a network, in one of two depths. `inMemory`: every client's
 * request handler is the in-memory one (inMemoryAwsHandler.ts), so the SDK's whole middleware stack runs
 * (serialise, sign, retry bookkeeping, parse); `stubbedSend`: `send()` itself is stubbed on the client
 * classes, so none of it does.
 */
const answerAwsInMemory: WorkerPluginFactory<{ mode: 'inMemory' | 'stubbedSend' }> = (
  { mode },
  { report },
) => {
  if (mode === 'stubbedSend') {
    mockClient(DynamoDBClient)
      .on(UpdateItemCommand)
      .callsFake(() => ({
        Attributes: { attempts: { N: '1' }, first_attempt_at: { S: new Date().toISOString() } },
      }));
    mockClient(SQSClient).resolves({});
    return {};
  }
  const inMemory = createInMemoryAwsHandler();
  patchSdkSend(
    (send) =>
      function (command, ...rest) {
        (this.config as { requestHandler: unknown }).requestHandler = inMemory;
        return send.call(this, command, ...rest);
      },
  );
  return {
    wrapHandler: (handler) => async (event, context) => {
      try {
        return await handler(event, context);
      } finally {
        report({ operations: Object.fromEntries(inMemory.calls) } satisfies InMemoryCallsEvent);
        inMemory.calls.clear();
      }
    },
  };
};
export default answerAwsInMemory;
