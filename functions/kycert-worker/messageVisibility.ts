import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { SQS_MAX_VISIBILITY_SECONDS } from './constants.js';

/**
 * Retrying without sleeping: the record is reported as a batch item failure, and its visibility timeout is
 * set to the delay the policy chose, so SQS hands it back then. The function is not running meanwhile.
 */
export class MessageVisibility {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async delay(receiptHandle: string, delaySeconds: number): Promise<void> {
    const seconds = Math.min(Math.max(0, Math.ceil(delaySeconds)), SQS_MAX_VISIBILITY_SECONDS);
    await this.#client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  }
}
