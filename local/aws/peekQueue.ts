import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { PeekQueueError } from './errors.js';

export interface PeekedMessage {
  readonly messageId: string;
  readonly body: string;
  readonly messageAttributes: Readonly<Record<string, MessageAttributeValue>>;
  /** Receives before this peek: SQS's ApproximateReceiveCount less the peek's own receive. */
  readonly receiveCount: number;
  readonly sentAtMs: number;
  /** Every system attribute, as SQS returned it. */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface PeekQueueOptions {
  /** How long peeked messages stay hidden while the rest are read. @default 30 s */
  readonly holdSeconds?: number;
  /** @default 1000 messages */
  readonly maxMessages?: number;
}

/**
 * Reads every visible message of a queue without consuming it: each is received with a hold, so the next
 * receive returns others, then all are made visible again at once.
 * A receive still counts: on a queue with a redrive policy, a peek can push a message over
 * `maxReceiveCount`. Meant for a DLQ, or for a queue nothing else is reading; messages in flight elsewhere
 * are not seen.
 */
export async function peekQueue(
  sqs: SQSClient,
  queueUrl: string,
  options: PeekQueueOptions = {},
): Promise<PeekedMessage[]> {
  const holdSeconds = options.holdSeconds ?? 30;
  const maxMessages = options.maxMessages ?? 1_000;
  const held = new Map<string, Message>();
  try {
    while (held.size < maxMessages) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, maxMessages - held.size),
          VisibilityTimeout: holdSeconds,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) {
        break;
      }
      for (const message of Messages) {
        // Keyed by id: if the hold ran out mid-peek, a message seen twice is listed once.
        held.set(message.MessageId ?? String(held.size), message);
      }
    }
  } finally {
    await makeVisible(sqs, queueUrl, [...held.values()]);
  }
  return [...held.values()].map(toPeekedMessage);
}

async function makeVisible(sqs: SQSClient, queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (let start = 0; start < messages.length; start += 10) {
    const chunk = messages.slice(start, start + 10);
    const messageIds = chunk.map((message) => message.MessageId ?? '(no id)');
    let failed: readonly { Id?: string | undefined; Code?: string | undefined }[];
    try {
      ({ Failed: failed = [] } = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      ));
    } catch (error) {
      throw new PeekQueueError(queueUrl, messageIds, 'could not make peeked messages visible again', {
        cause: error,
      });
    }
    if (failed.length > 0) {
      throw new PeekQueueError(
        queueUrl,
        failed.map((entry) => messageIds[Number(entry.Id)] ?? `entry ${entry.Id}`),
        `could not make peeked messages visible again: ${failed.map((entry) => entry.Code).join(', ')}`,
      );
    }
  }
}

function toPeekedMessage(message: Message): PeekedMessage {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    body: message.Body ?? '',
    messageAttributes: message.MessageAttributes ?? {},
    receiveCount: Number(attributes.ApproximateReceiveCount ?? 1) - 1,
    sentAtMs: Number(attributes.SentTimestamp),
    attributes,
  };
}
