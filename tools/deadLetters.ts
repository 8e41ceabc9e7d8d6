import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DeadLetterAttribute } from '../functions/kycert-worker/deadLetterQueue.js';
import { parseRunRequestMessage } from '../functions/kycert-worker/runRequestMessage.js';
import { CliError } from './errors.js';

/** One DLQ message as the CLI shows it; `--json` prints exactly this. */
export interface DeadLetter {
  message_id: string;
  /** The worker's reason; null when SQS moved the message itself (repeated crashes or timeouts). */
  reason: string | null;
  detail: string | null;
  /** The message's key: the DLQ attribute, else read from the body (its own key, or the derived one). */
  idempotency_key: string | null;
  source_message_id: string | null;
  /** Receives on the requests queue when the worker dead-lettered it. */
  receive_count: number | null;
  dead_lettered_at: string | null;
  /** The original body, verbatim. */
  body: string;
}

/** `--reason none` selects the messages without a reason. */
export const NO_REASON = 'none';

/** What `--reason` matches: a prefix of the reason attribute, or `none`. */
export function matchesReason(message: DeadLetter, prefixes: readonly string[]): boolean {
  if (prefixes.length === 0) return true;
  return prefixes.some((prefix) =>
    prefix === NO_REASON ? message.reason === null : (message.reason ?? '').startsWith(prefix),
  );
}

export function toDeadLetter(message: {
  messageId: string;
  body: string;
  messageAttributes: Readonly<Record<string, { StringValue?: string | undefined }>>;
}): DeadLetter {
  const attribute = (name: string) => message.messageAttributes[name]?.StringValue ?? null;
  const receiveCount = attribute(DeadLetterAttribute.receiveCount);
  return {
    message_id: message.messageId,
    reason: attribute(DeadLetterAttribute.reason),
    detail: attribute(DeadLetterAttribute.detail),
    // The body first: the attribute is masked where the key looks like a document.
    idempotency_key: keyFromBody(message.body) ?? attribute(DeadLetterAttribute.idempotencyKey),
    source_message_id: attribute(DeadLetterAttribute.sourceMessageId),
    receive_count: receiveCount === null ? null : Number(receiveCount),
    dead_lettered_at: attribute(DeadLetterAttribute.deadLetteredAt),
    body: message.body,
  };
}

/** The key the worker would use for this body, when one can be read from it. */
export function keyFromBody(body: string): string | null {
  const parsed = parseRunRequestMessage(body);
  return (parsed.ok ? parsed.request.idempotencyKey : parsed.idempotencyKey) ?? null;
}

export interface HeldDeadLetter extends DeadLetter {
  readonly receiptHandle: string;
}

export interface HeldDeadLetters {
  readonly messages: readonly HeldDeadLetter[];
  /** True when `maxMessages` stopped the read: the DLQ holds more. */
  readonly truncated: boolean;
  /**
   * Makes visible again every held message except `keep` (the ones deleted, or still being worked on).
   * A message is released once; a later call skips it.
   */
  release(keep: ReadonlySet<string>): Promise<void>;
}

/**
 * Like local/aws/peekQueue.ts, but with long polls and the receipt handles kept.
 * Receives every visible DLQ message and keeps it hidden for `holdSeconds`, so that the next receive returns
 * others and the caller can delete the ones it redrives with their receipt handles. `release` makes the rest
 * visible again; if the process dies first, they reappear when the hold ends.
 */
export async function holdDeadLetters(
  sqs: SQSClient,
  queueUrl: string,
  options: { holdSeconds: number; maxMessages: number },
): Promise<HeldDeadLetters> {
  const held = new Map<string, Message>();
  let truncated = false;
  const released = new Set<string>();
  const release = async (keep: ReadonlySet<string>) => {
    const rest = [...held.values()].filter(
      (message) => !keep.has(message.MessageId ?? '') && !released.has(message.MessageId ?? ''),
    );
    for (const message of rest) released.add(message.MessageId ?? '');
    const refused: string[] = [];
    for (let start = 0; start < rest.length; start += 10) {
      const chunk = rest.slice(start, start + 10);
      const { Failed = [] } = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
      refused.push(...Failed.map((entry) => chunk[Number(entry.Id)]?.MessageId ?? `entry ${entry.Id}`));
    }
    if (refused.length > 0) {
      throw new CliError(
        `could not make ${refused.length} DLQ message(s) visible again (${refused.join(', ')}); ` +
          `they reappear by themselves within ${options.holdSeconds} s`,
      );
    }
  };
  try {
    for (;;) {
      if (held.size >= options.maxMessages) {
        truncated = true;
        break;
      }
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, options.maxMessages - held.size),
          VisibilityTimeout: options.holdSeconds,
          // A long poll asks every SQS server, so an empty answer means the queue is empty (a short poll
          // samples some servers and may answer empty while messages remain).
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) break;
      for (const message of Messages) held.set(message.MessageId ?? String(held.size), message);
    }
  } catch (error) {
    await release(new Set()).catch(() => undefined);
    throw new CliError(`cannot read the DLQ ${queueUrl}: ${(error as Error).message}`, undefined, {
      cause: error,
    });
  }
  return {
    messages: [...held.values()].map((message) => ({
      ...toDeadLetter({
        messageId: message.MessageId ?? '',
        body: message.Body ?? '',
        messageAttributes: message.MessageAttributes ?? {},
      }),
      receiptHandle: message.ReceiptHandle ?? '',
    })),
    truncated,
    release,
  };
}
