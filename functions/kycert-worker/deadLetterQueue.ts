import { createHash } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { redactDocuments } from './brazilianDocument.js';
import { type ClientSource, clientOf } from './lazyClient.js';
import { maskIdempotencyKey } from './maskIdempotencyKey.js';
import { sqsSafeText } from './sqsText.js';

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
  /** Masked where it looks like a document; the CLI reads the key from the body first. */
  idempotencyKey: 'idempotency_key',
  sourceMessageId: 'source_message_id',
  receiveCount: 'receive_count',
  deadLetteredAt: 'dead_lettered_at',
  /** Set only when the body had to be cut to fit the DLQ: the original's size and SHA-256. */
  originalBodyBytes: 'original_body_bytes',
  originalBodySha256: 'original_body_sha256',
} as const;

/** Attribute bounds, in characters: a reason is a short code, a detail a sentence or two. */
const MAX_REASON_CHARACTERS = 256;
const MAX_DETAIL_CHARACTERS = 1_000;

/**
 * A body larger than this is cut before it is dead-lettered. The main queue refuses anything over 64 KiB
 * (lib/runQueues.ts, local/aws/createQueuePair.ts) and the DLQ keeps SQS's default 1 MiB, so this never
 * happens with the deployed settings; it keeps a message dead-letterable if someone raises the main queue's
 * limit to the DLQ's, where body + attributes would no longer fit.
 */
export const MAX_DEAD_LETTER_BODY_BYTES = 192 * 1024;

/**
 * SQS errors meaning "this SendMessage can never succeed as it is": a character or a value SQS refuses, or a
 * message too large. The first two are modelled classes; the size error is not, so it can only be told by name.
 */
const REFUSED_AS_INVALID = new Set([
  'InvalidMessageContents',
  'InvalidAttributeValue',
  'InvalidAttributeName',
  'InvalidParameterValue',
  'InvalidParameterValueException',
]);

/**
 * The worker moves a message to the DLQ itself, with the reason attached, instead of letting the redrive
 * policy do it silently after N receives: the operator sees why at once, and a 4xx is not retried N times.
 */
export class DeadLetterQueue {
  readonly #client: () => Promise<SQSClient>;
  readonly #queueUrl: string;

  constructor(options: { client: ClientSource<SQSClient>; queueUrl: string }) {
    this.#client = clientOf(options.client);
    this.#queueUrl = options.queueUrl;
  }

  async send(entry: DeadLetterEntry): Promise<string | undefined> {
    const body = fitBody(entry.body);
    try {
      return await this.#send(body.text, { ...fullAttributes(entry), ...body.attributes });
    } catch (error) {
      const { SQSServiceException } = await import('@aws-sdk/client-sqs');
      if (!(error instanceof SQSServiceException && REFUSED_AS_INVALID.has(error.name))) throw error;
      // Should sanitising have missed something, a reason still beats a record retried until the redrive
      // policy moves it without one: the fixed, ASCII-only attributes below cannot be refused.
      return this.#send(body.text, { ...minimalAttributes(entry), ...body.attributes });
    }
  }

  async #send(body: string, attributes: Record<string, string>): Promise<string | undefined> {
    // Off the success path: the SQS client's chunk is loaded on the first dead letter (lazyClient.ts).
    const [{ SendMessageCommand }, client] = await Promise.all([
      import('@aws-sdk/client-sqs'),
      this.#client(),
    ]);
    const { MessageId } = await client.send(
      new SendMessageCommand({
        QueueUrl: this.#queueUrl,
        MessageBody: body,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [
            name,
            name === DeadLetterAttribute.receiveCount || name === DeadLetterAttribute.originalBodyBytes
              ? { DataType: 'Number', StringValue: value }
              : { DataType: 'String', StringValue: value },
          ]),
        ),
      }),
    );
    return MessageId;
  }
}

function fullAttributes(entry: DeadLetterEntry): Record<string, string> {
  return {
    [DeadLetterAttribute.reason]: sqsSafeText(redactDocuments(entry.reason), MAX_REASON_CHARACTERS) || '-',
    [DeadLetterAttribute.detail]: sqsSafeText(redactDocuments(entry.detail), MAX_DETAIL_CHARACTERS) || '-',
    [DeadLetterAttribute.sourceMessageId]: sqsSafeText(entry.sourceMessageId, 100),
    [DeadLetterAttribute.receiveCount]: String(entry.receiveCount),
    [DeadLetterAttribute.deadLetteredAt]: new Date(entry.nowMs).toISOString(),
    ...(entry.idempotencyKey === undefined
      ? {}
      : { [DeadLetterAttribute.idempotencyKey]: sqsSafeText(maskIdempotencyKey(entry.idempotencyKey), 255) }),
  };
}

/** Only values built here from fixed ASCII: the reason's leading code, and what the worker itself produced. */
function minimalAttributes(entry: DeadLetterEntry): Record<string, string> {
  const code = /^[a-z_]+/.exec(entry.reason)?.[0] ?? 'unknown';
  return {
    [DeadLetterAttribute.reason]: code,
    [DeadLetterAttribute.detail]:
      'the full reason could not be attached; see the worker log for this message id',
    [DeadLetterAttribute.receiveCount]: String(entry.receiveCount),
    [DeadLetterAttribute.deadLetteredAt]: new Date(entry.nowMs).toISOString(),
    // SQS's own message ids are UUIDs; anything else is left out rather than risked.
    ...(/^[\w-]{1,100}$/.test(entry.sourceMessageId)
      ? { [DeadLetterAttribute.sourceMessageId]: entry.sourceMessageId }
      : {}),
  };
}

function fitBody(body: string): { text: string; attributes: Record<string, string> } {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes <= MAX_DEAD_LETTER_BODY_BYTES) return { text: body, attributes: {} };
  // Cut on a character boundary: decoding a cut UTF-8 buffer would end in U+FFFD, still a valid body.
  const text = Buffer.from(body, 'utf8').subarray(0, MAX_DEAD_LETTER_BODY_BYTES).toString('utf8');
  return {
    text,
    attributes: {
      [DeadLetterAttribute.originalBodyBytes]: String(bytes),
      [DeadLetterAttribute.originalBodySha256]: createHash('sha256').update(body).digest('hex'),
    },
  };
}
