import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
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

/** Validates a message and returns the exact body to send, with `schema_version: 1`. */
export function buildRunRequestMessage(message: RunRequestMessage): { body: string; idempotencyKey: string } {
  const body = JSON.stringify({ schema_version: 1, ...message });
  const parsed = parseRunRequestMessage(body);
  if (!parsed.ok) throw new InvalidRunRequestError(parsed.reason, parsed.detail);
  return { body, idempotencyKey: parsed.request.idempotencyKey };
}

export class RunRequestProducer {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;

  constructor(options: { sqs: SQSClient; queueUrl: string }) {
    this.#sqs = options.sqs;
    this.#queueUrl = options.queueUrl;
  }

  /** @throws InvalidRunRequestError when the message is invalid (nothing is sent). */
  async send(message: RunRequestMessage): Promise<SentRunRequest> {
    const { body, idempotencyKey } = buildRunRequestMessage(message);
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
        valid.push({ index, ...buildRunRequestMessage(message) });
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
