import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { redactDocuments } from '../functions/kycert-worker/brazilianDocument.js';
import {
  parseRunRequestMessage,
  type RunRequestMessage,
} from '../functions/kycert-worker/runRequestMessage.js';

/**
 * The typed way for a service to ask for a kycert run: validate with the worker's own schema, then send.
 * An invalid message is refused here, with the same reason the worker's DLQ would give, and never sent.
 */
export class InvalidRunRequestError extends Error {
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`invalid run request (${reason}): ${detail}`);
    this.name = 'InvalidRunRequestError';
  }
}

export interface SentRunRequest {
  messageId: string;
  /** The key kycert will see: the message's own, or the one derived from template_id and external_id. */
  idempotencyKey: string;
}

export type BatchResult =
  | ({ ok: true; index: number } & SentRunRequest)
  | { ok: false; index: number; reason: string; detail: string; idempotencyKey?: string };

/**
 * Where the helper says that a message is valid but unwise. @default `process.emitWarning` (printed once per
 * text by Node, and visible to `process.on('warning')`).
 */
export type WarningSink = (warning: string) => void;
const emitWarning: WarningSink = (warning) => process.emitWarning(warning, { code: 'KYCERT_QUEUE_PII' });

/**
 * Validates a message and returns the exact body to send, with `schema_version: 1`. A key or an external id
 * that looks like a CPF/CNPJ is sent all the same, with a warning: the worker masks it in its logs and DLQ
 * attributes, but the key is the outcome table's partition key and travels to kycert as a header.
 */
export function buildRunRequestMessage(
  message: RunRequestMessage,
  onWarning: WarningSink = emitWarning,
): { body: string; idempotencyKey: string } {
  const body = JSON.stringify({ schema_version: 1, ...message });
  const parsed = parseRunRequestMessage(body);
  if (!parsed.ok) throw new InvalidRunRequestError(parsed.reason, parsed.detail);
  for (const field of ['idempotency_key', 'external_id'] as const) {
    const value = message[field];
    if (typeof value === 'string' && redactDocuments(value) !== value) {
      onWarning(
        `kycert-queue: ${field} looks like it holds a CPF/CNPJ; use an id of your own (a UUID, an order number) instead`,
      );
    }
  }
  return { body, idempotencyKey: parsed.request.idempotencyKey };
}

export class RunRequestProducer {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;
  readonly #onWarning: WarningSink;

  /** @param options.onWarning where warnings go. @default process.emitWarning */
  constructor(options: { sqs: SQSClient; queueUrl: string; onWarning?: WarningSink }) {
    this.#sqs = options.sqs;
    this.#queueUrl = options.queueUrl;
    this.#onWarning = options.onWarning ?? emitWarning;
  }

  /** @throws InvalidRunRequestError when the message is invalid (nothing is sent). */
  async send(message: RunRequestMessage): Promise<SentRunRequest> {
    const { body, idempotencyKey } = buildRunRequestMessage(message, this.#onWarning);
    const { MessageId } = await this.#sqs.send(
      new SendMessageCommand({ QueueUrl: this.#queueUrl, MessageBody: body }),
    );
    return { messageId: MessageId ?? '', idempotencyKey };
  }

  /**
   * Sends many messages, ten per SendMessageBatch call. Invalid messages and messages SQS refused are
   * reported by their index; the others are sent. Never throws for one bad message.
   */
  async sendMany(messages: readonly RunRequestMessage[]): Promise<BatchResult[]> {
    const results: BatchResult[] = [];
    const valid: { index: number; body: string; idempotencyKey: string }[] = [];
    messages.forEach((message, index) => {
      try {
        valid.push({ index, ...buildRunRequestMessage(message, this.#onWarning) });
      } catch (error) {
        if (!(error instanceof InvalidRunRequestError)) throw error;
        results.push({ ok: false, index, reason: error.reason, detail: error.detail });
      }
    });
    for (let start = 0; start < valid.length; start += 10) {
      const chunk = valid.slice(start, start + 10);
      const response = await this.#sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.#queueUrl,
          Entries: chunk.map(({ index, body }) => ({ Id: String(index), MessageBody: body })),
        }),
      );
      for (const entry of chunk) {
        const sent = response.Successful?.find((s) => s.Id === String(entry.index));
        const failed = response.Failed?.find((f) => f.Id === String(entry.index));
        results.push(
          sent !== undefined
            ? {
                ok: true,
                index: entry.index,
                messageId: sent.MessageId ?? '',
                idempotencyKey: entry.idempotencyKey,
              }
            : {
                ok: false,
                index: entry.index,
                reason: `sqs:${failed?.Code ?? 'unknown'}`,
                detail: failed?.Message ?? 'not acknowledged by SQS',
                idempotencyKey: entry.idempotencyKey,
              },
        );
      }
    }
    return results.sort((a, b) => a.index - b.index);
  }
}
