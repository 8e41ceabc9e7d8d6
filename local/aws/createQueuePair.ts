import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface QueuePairOptions {
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  /** Receives after which SQS moves a message to the DLQ by itself (the redrive policy). */
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
}

export interface QueuePair {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly deadLetterQueueUrl: string;
  readonly deadLetterQueueArn: string;
}

/**
 * A DLQ keeps a message's original enqueue time, so a DLQ with the default 4-day retention would expire
 * messages that spent days retrying; 14 days (the SQS maximum) gives an operator time to look.
 */
const DEAD_LETTER_RETENTION_SECONDS = 1_209_600;

/**
 * As deployed (lib/runQueues.ts): the main queue takes at most 64 KiB, far below the DLQ's 1 MiB (SQS's
 * default), so that any body it accepted still fits the DLQ with the reason attributes beside it. The
 * message schema refuses anything over 16 KiB anyway.
 */
export const MAIN_QUEUE_MAXIMUM_MESSAGE_BYTES = 64 * 1024;

/** The main queue and its DLQ; the DLQ comes first because the redrive policy names its ARN. */
export async function createQueuePair(sqs: SQSClient, options: QueuePairOptions): Promise<QueuePair> {
  const deadLetter = await createQueue(sqs, options.deadLetterQueueName, {
    MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS),
  });
  const main = await createQueue(sqs, options.queueName, {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds),
    MaximumMessageSize: String(MAIN_QUEUE_MAXIMUM_MESSAGE_BYTES),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetter.arn,
      maxReceiveCount: options.maxReceiveCount,
    }),
  });
  return {
    queueUrl: main.url,
    queueArn: main.arn,
    deadLetterQueueUrl: deadLetter.url,
    deadLetterQueueArn: deadLetter.arn,
  };
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (QueueUrl === undefined) {
    throw new Error(`CreateQueue ${name} returned no QueueUrl`);
  }
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (arn === undefined) {
    throw new Error(`GetQueueAttributes ${QueueUrl} returned no QueueArn`);
  }
  return { url: QueueUrl, arn };
}
