import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';

type Send = (this: SQSClient | DynamoDBClient, command: object, ...rest: unknown[]) => Promise<unknown>;

/**
 * Wraps `send` of every SQS and DynamoDB client this environment will ever build, whatever part of the
 * worker builds it: the method is shadowed on the client classes' prototypes (as aws-sdk-client-mock does),
 * so the bench's plugins need not know which `WorkerDeps` fields hold clients. Only within this process:
 * each execution environment has its own module state.
 */
export function patchSdkSend(wrap: (send: Send) => Send): void {
  for (const Client of [SQSClient, DynamoDBClient]) {
    const prototype = Client.prototype as unknown as { send: Send };
    const original = prototype.send;
    Object.defineProperty(prototype, 'send', { value: wrap(original), configurable: true, writable: true });
  }
}
