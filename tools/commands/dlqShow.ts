import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DeadLetter, holdDeadLetters } from '../deadLetters.js';
import { CliError } from '../errors.js';
import { maskText } from '../mask.js';
import { block } from '../output.js';

/** The DLQ messages with this message id, or every copy with this idempotency key; none consumed. */
export async function showDeadLetters(
  sqs: SQSClient,
  deadLetterQueueUrl: string,
  which: string,
  options: { limit?: number } = {},
): Promise<DeadLetter[]> {
  const held = await holdDeadLetters(sqs, deadLetterQueueUrl, {
    holdSeconds: 30,
    maxMessages: options.limit ?? 100_000,
  });
  await held.release(new Set());
  const found = held.messages
    .filter((m) => m.message_id === which || m.idempotency_key === which)
    .map(({ receiptHandle: _handle, ...message }) => message);
  if (found.length === 0) throw new CliError(`no DLQ message with id or idempotency key ${which}`);
  return found;
}

/** Everything about each message; the body verbatim, since correcting it is why one looks. */
export function renderShownDeadLetters(messages: readonly DeadLetter[]): string {
  return messages
    .map((m) =>
      [
        block([
          ['message id', m.message_id],
          ['reason', m.reason ?? '(none: moved by SQS after repeated receives)'],
          ['detail', maskText(m.detail ?? undefined)],
          ['idempotency key', m.idempotency_key],
          ['source message id', m.source_message_id],
          ['receive count', m.receive_count],
          ['dead-lettered at', m.dead_lettered_at],
        ]),
        'body (verbatim):',
        m.body,
      ].join('\n'),
    )
    .join('\n\n');
}
