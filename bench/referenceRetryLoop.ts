import { setTimeout as sleepMs } from 'node:timers/promises';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { Agent, request } from 'undici';

/**
 * P2's baseline: the retry pattern of kycert's own documentation, inside the function. For each record, POST;
 * on 429 sleep `Retry-After` (60 s when absent or unreadable), on 5xx or a network error sleep the backoff
 * (1 s, 2 s, 4 s…), and POST again under the same key until it succeeds or the attempts run out. The records of
 * a batch are worked in parallel, as Powertools' BatchProcessor works ours, so the baseline pays each sleep
 * once per batch rather than once per record: the strongest form of the pattern, not a strawman.
 *
 * It writes no outcome and changes no visibility: it only makes the baseline cheaper.
 */
export interface KycertAnswer {
  /** HTTP status, or undefined for a network error. */
  status: number | undefined;
  retryAfter?: string | undefined;
}

export interface RetryLoopOptions {
  post(kycertBody: string, idempotencyKey: string): Promise<KycertAnswer>;
  sleep(delayMs: number): Promise<void>;
  nowMs?: () => number;
  /** POSTs per record, the first included. @default 4 (the local pipeline's MAX_ATTEMPTS) */
  maxAttempts?: number;
  /** @default 1 s */
  backoffBaseSeconds?: number;
  /** @default 4 s (the local pipeline's BACKOFF_MAX_SECONDS) */
  backoffMaxSeconds?: number;
}

export interface RetryLoopResult {
  outcome: 'succeeded' | 'failed';
  attempts: number;
  /** Every sleep, in order, in milliseconds. */
  sleptMs: number[];
}

/** kycert's documented default when a 429 carries no usable `Retry-After`. */
const DEFAULT_RETRY_AFTER_SECONDS = 60;

export async function retryLoop(messageBody: string, options: RetryLoopOptions): Promise<RetryLoopResult> {
  const { kycertBody, idempotencyKey } = toKycertRequest(messageBody);
  const maxAttempts = options.maxAttempts ?? 4;
  const sleptMs: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const answer = await options.post(kycertBody, idempotencyKey);
    const status = answer.status;
    if (status !== undefined && status >= 200 && status < 300) {
      return { outcome: 'succeeded', attempts: attempt, sleptMs };
    }
    const retryable = status === undefined || status === 429 || status >= 500;
    if (!retryable || attempt >= maxAttempts) return { outcome: 'failed', attempts: attempt, sleptMs };
    const delayMs =
      status === 429
        ? retryAfterMs(answer.retryAfter, options.nowMs?.() ?? Date.now())
        : backoffMs(attempt, options.backoffBaseSeconds ?? 1, options.backoffMaxSeconds ?? 4);
    sleptMs.push(delayMs);
    await options.sleep(delayMs);
  }
}

/** `Retry-After` as delta-seconds or an HTTP-date; anything else means kycert's default. */
export function retryAfterMs(header: string | undefined, nowMs: number): number {
  if (header !== undefined && /^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const dateMs = header === undefined ? Number.NaN : Date.parse(header);
  if (Number.isFinite(dateMs)) return Math.max(0, dateMs - nowMs);
  return DEFAULT_RETRY_AFTER_SECONDS * 1000;
}

/** kycert's docs: 1 s, 2 s, 4 s… doubling per attempt, capped. */
export function backoffMs(attempt: number, baseSeconds: number, maxSeconds: number): number {
  return Math.min(baseSeconds * 2 ** (attempt - 1), maxSeconds) * 1000;
}

/** The message minus the queue's own fields is kycert's request body; the key travels as a header. */
export function toKycertRequest(messageBody: string): { kycertBody: string; idempotencyKey: string } {
  const {
    idempotency_key: idempotencyKey,
    schema_version: _version,
    ...request
  } = JSON.parse(messageBody) as {
    idempotency_key: string;
    schema_version?: number;
  };
  return { kycertBody: JSON.stringify(request), idempotencyKey };
}

/** The baseline as a Lambda handler: every record retried in-function; the ones that gave up are reported. */
export function createReferenceHandler(options: {
  baseUrl: string;
  apiKey: string;
  maxAttempts?: number;
  onResult?: (result: RetryLoopResult) => void;
}): { handler: (event: SQSEvent) => Promise<SQSBatchResponse>; close(): Promise<void> } {
  // The kycert client's own Agent settings: the baseline is not slowed by a different connection pool.
  const agent = new Agent({ connect: { timeout: 3_000 }, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const post = async (kycertBody: string, idempotencyKey: string): Promise<KycertAnswer> => {
    try {
      const response = await request(`${options.baseUrl}/bureau/runs`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'x-api-key': options.apiKey,
          'idempotency-key': idempotencyKey,
        },
        body: kycertBody,
        dispatcher: agent,
      });
      await response.body.text();
      const retryAfter = response.headers['retry-after'];
      return {
        status: response.statusCode,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      };
    } catch {
      return { status: undefined };
    }
  };
  const loopOptions: RetryLoopOptions = {
    post,
    sleep: (delayMs) => sleepMs(delayMs),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  };
  return {
    async handler(event) {
      const results = await Promise.all(
        event.Records.map(async (record) => {
          const result = await retryLoop(record.body, loopOptions);
          options.onResult?.(result);
          return { messageId: record.messageId, result };
        }),
      );
      return {
        batchItemFailures: results
          .filter(({ result }) => result.outcome === 'failed')
          .map(({ messageId }) => ({ itemIdentifier: messageId })),
      };
    },
    close: () => agent.close(),
  };
}
