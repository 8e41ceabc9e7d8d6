import type { SQSClient } from '@aws-sdk/client-sqs';
import { SQS_MAX_VISIBILITY_SECONDS } from './constants.js';
import { type ClientSource, clientOf } from './lazyClient.js';

/**
 * Retrying without sleeping: the record is reported as a batch item failure, and its visibility timeout is
 * set to the delay the policy chose, so SQS hands it back then. The function is not running meanwhile.
 */
export class MessageVisibility {
  readonly #client: () => Promise<SQSClient>;
  readonly #queueUrl: string;

  constructor(options: { client: ClientSource<SQSClient>; queueUrl: string }) {
    this.#client = clientOf(options.client);
    this.#queueUrl = options.queueUrl;
  }

  async delay(receiptHandle: string, delaySeconds: number): Promise<void> {
    const seconds = Math.min(Math.max(0, Math.ceil(delaySeconds)), SQS_MAX_VISIBILITY_SECONDS);
    // Off the success path: the SQS client's chunk is loaded on the first retry (lazyClient.ts).
    const [{ ChangeMessageVisibilityCommand }, client] = await Promise.all([
      import('@aws-sdk/client-sqs'),
      this.#client(),
    ]);
    await client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }
}
