import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { redactDocuments } from './brazilianDocument.js';

export interface DeadLetterEntry {
  /** The original message body, verbatim: an operator can fix it and redrive it. */
  body: string;
  /** Machine-readable, e.g. `kycert_rejected:insufficient_credits` or `invalid_message:subject.doc:invalid_length`. */
  reason: string;
  /** Human-readable; CPF/CNPJ-looking text is masked. */
  detail: string;
  idempotencyKey: string | undefined;
  sourceMessageId: string;
  receiveCount: number;
  nowMs: number;
}

/** Names of the message attributes every DLQ message carries; the operator CLI reads them. */
export const DeadLetterAttribute = {
  reason: 'reason',
  detail: 'detail',
  idempotencyKey: 'idempotency_key',
  sourceMessageId: 'source_message_id',
  receiveCount: 'receive_count',
  deadLetteredAt: 'dead_lettered_at',
} as const;

/**
 * The worker moves a message to the DLQ itself, with the reason attached, instead of letting the redrive
 * policy do it silently after N receives: the operator sees why at once, and a 4xx is not retried N times.
 */
export class DeadLetterQueue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { client: SQSClient; queueUrl: string }) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async send(entry: DeadLetterEntry): Promise<string | undefined> {
    const text = (value: string) => ({ DataType: 'String', StringValue: value });
    const { MessageId } = await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#queueUrl,
        MessageBody: entry.body,
        MessageAttributes: {
          [DeadLetterAttribute.reason]: text(entry.reason),
          [DeadLetterAttribute.detail]: text(redactDocuments(entry.detail).slice(0, 1000) || '-'),
          [DeadLetterAttribute.sourceMessageId]: text(entry.sourceMessageId),
          [DeadLetterAttribute.receiveCount]: { DataType: 'Number', StringValue: String(entry.receiveCount) },
          [DeadLetterAttribute.deadLetteredAt]: text(new Date(entry.nowMs).toISOString()),
          ...(entry.idempotencyKey === undefined
            ? {}
            : { [DeadLetterAttribute.idempotencyKey]: text(entry.idempotencyKey) }),
        },
      }),
    );
    return MessageId;
  }
}
