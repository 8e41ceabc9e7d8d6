import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DeadLetter, holdDeadLetters, matchesReason } from '../deadLetters.js';
import { maskBody, maskText } from '../mask.js';
import { cut, type Layout, PLAIN_LAYOUT, table } from '../output.js';

export interface DeadLetterListing {
  messages: DeadLetter[];
  /** Messages in the DLQ by SQS's approximate counts, including ones not shown (in flight elsewhere). */
  approximate: { visible: number; in_flight: number };
  /** More messages than `--limit` were in the DLQ. */
  truncated: boolean;
}

/** How long listed messages stay hidden while the rest are read; they are made visible again at once. */
const PEEK_HOLD_SECONDS = 30;

/**
 * The DLQ's messages without consuming them: each is received with a short hold so that the next receive
 * returns others, then all are made visible again. A receive still counts in each message's
 * ApproximateReceiveCount (the DLQ has no redrive policy, so nothing moves because of it).
 */
export async function listDeadLetters(
  sqs: SQSClient,
  deadLetterQueueUrl: string,
  options: { reasons?: readonly string[]; keys?: readonly string[]; limit: number },
): Promise<DeadLetterListing> {
  const held = await holdDeadLetters(sqs, deadLetterQueueUrl, {
    holdSeconds: PEEK_HOLD_SECONDS,
    maxMessages: options.limit,
  });
  await held.release(new Set());
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: deadLetterQueueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const keys = options.keys ?? [];
  const messages = held.messages
    .filter((message) => matchesReason(message, options.reasons ?? []))
    .filter((message) => keys.length === 0 || keys.includes(message.idempotency_key ?? ''))
    .map(({ receiptHandle: _handle, ...message }) => message)
    .sort((a, b) => (a.dead_lettered_at ?? '').localeCompare(b.dead_lettered_at ?? ''));
  return {
    messages,
    approximate: {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      in_flight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    },
    truncated: held.truncated,
  };
}

export function renderDeadLetters(
  listing: DeadLetterListing,
  options: { filtered: boolean; layout?: Layout },
): string {
  const layout = options.layout ?? PLAIN_LAYOUT;
  const { messages } = listing;
  const lines: string[] = [];
  if (messages.length === 0) {
    lines.push(options.filtered ? 'No DLQ message matches.' : 'The DLQ is empty.');
  } else {
    lines.push(
      table(
        ['message id', 'reason', 'idempotency key', 'dead-lettered', 'detail', 'body (documents masked)'],
        messages.map((m) => [
          m.message_id,
          m.reason ?? '(none: moved by SQS)',
          m.idempotency_key ?? '(none)',
          m.dead_lettered_at,
          cut(maskText(m.detail ?? '') ?? '', 60, layout),
          cut(maskBody(m.body), 120, layout),
        ]),
        {
          width: layout.width,
          shrinkable: [
            ['body (documents masked)'],
            ['detail', 'idempotency key', 'message id'],
            ['reason', 'dead-lettered'],
          ],
        },
      ),
    );
    const byReason = new Map<string, number>();
    for (const m of messages) {
      const reason = m.reason ?? 'none';
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
    lines.push(
      `${messages.length} message(s) by reason: ${[...byReason]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([reason, count]) => `${reason} ${count}`)
        .join(', ')}. They are still in the DLQ.`,
    );
  }
  if (listing.truncated) lines.push('The DLQ holds more: raise --limit to see them.');
  if (listing.approximate.in_flight > 0) {
    lines.push(
      `SQS counts ${listing.approximate.in_flight} more message(s) in flight (being redriven or read elsewhere); ` +
        'they are not listed.',
    );
  }
  return lines.join('\n');
}
