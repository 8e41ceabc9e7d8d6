import type { SQSClient } from '@aws-sdk/client-sqs';
import { type ClientSource, clientOf } from './lazyClient.js';

/**
 * The status checks' own queue: one message per accepted run, received once per check. It is the worker's
 * internal state, not the producers' API, so it lives apart from the requests queue: its long delays would
 * otherwise show as the requests queue's oldest-message age, and its messages as requests in the DLQ.
 */
export interface StatusCheckMessage {
  v: 1;
  idempotency_key: string;
  run_id: string;
  /** When kycert accepted the run: the schedule and the overdue time count from it. */
  accepted_at_ms: number;
  /** kycert's estimate from the 202, or null. */
  estimated_seconds: number | null;
  /** Already masked where it looks like a document (the outcome's copy): for the decision event. */
  external_id: string | null;
}

/** SQS's longest `DelaySeconds`: a later first check is reached through the visibility timeout instead. */
export const SQS_MAX_DELAY_SECONDS = 900;

export class StatusCheckQueue {
  readonly #client: () => Promise<SQSClient>;
  readonly queueUrl: string;
  /** The queue's name, as the event source's records name it in `eventSourceARN`. */
  readonly queueName: string;

  constructor(options: { client: ClientSource<SQSClient>; queueUrl: string }) {
    this.#client = clientOf(options.client);
    this.queueUrl = options.queueUrl;
    this.queueName = options.queueUrl.split('/').at(-1) ?? '';
  }

  /** Whether a record came from this queue (`arn:aws:sqs:<region>:<account>:<name>`). */
  holds(eventSourceArn: string): boolean {
    return eventSourceArn.split(':').at(-1) === this.queueName;
  }

  async schedule(check: StatusCheckMessage, delaySeconds: number): Promise<void> {
    const [{ SendMessageCommand }, client] = await Promise.all([
      import('@aws-sdk/client-sqs'),
      this.#client(),
    ]);
    await client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(check),
        DelaySeconds: Math.min(SQS_MAX_DELAY_SECONDS, Math.max(0, Math.ceil(delaySeconds))),
      }),
    );
  }
}

/** Our own message; undefined if it is not one (a bug, or something a producer should not have sent). */
export function parseStatusCheck(body: string): StatusCheckMessage | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const m = json as Record<string, unknown>;
  const text = (value: unknown) => typeof value === 'string' && value.length > 0 && value.length <= 255;
  if (m.v !== 1 || !text(m.idempotency_key) || !text(m.run_id) || typeof m.accepted_at_ms !== 'number') {
    return undefined;
  }
  return {
    v: 1,
    idempotency_key: m.idempotency_key as string,
    run_id: m.run_id as string,
    accepted_at_ms: m.accepted_at_ms,
    estimated_seconds: typeof m.estimated_seconds === 'number' ? m.estimated_seconds : null,
    external_id: text(m.external_id) ? (m.external_id as string) : null,
  };
}
