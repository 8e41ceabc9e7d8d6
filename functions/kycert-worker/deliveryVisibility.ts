import type { SQSRecord } from 'aws-lambda';
import { SQS_MAX_VISIBILITY_SECONDS } from './constants.js';

/** One receive of one message, as far as its visibility is concerned. */
export interface Delivery {
  messageId: string;
  receiptHandle: string;
  /** SQS `ApproximateReceiveCount`. */
  receiveCount: number;
  /**
   * The earliest this receive can have happened. SQS caps a message's visibility at 12 h from its receive, and a
   * change past that is refused ("Total VisibilityTimeout for the message is beyond the limit").
   */
  receivedAtMs: number;
  /** When the producer sent the message (`SentTimestamp`). */
  sentAtMs: number;
}

/**
 * What a record says of its receive. The event source does not pass the receive's own time; two lower bounds
 * do: the first receive's timestamp (exact on receive 1), and the invocation's start less the queue's visibility
 * timeout, since the event source must invoke before the message becomes visible again. The later of the two
 * is the tightest; neither is ever after the real receive, so a visibility computed from it is never refused.
 */
export function readDelivery(
  record: SQSRecord,
  invocationStartedAtMs: number,
  queueVisibilityTimeoutSeconds: number,
): Delivery {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const firstReceivedAtMs = Number(record.attributes.ApproximateFirstReceiveTimestamp);
  const latestPossibleBound = invocationStartedAtMs - queueVisibilityTimeoutSeconds * 1000;
  const receivedAtMs =
    receiveCount === 1 && Number.isFinite(firstReceivedAtMs) && firstReceivedAtMs <= invocationStartedAtMs
      ? Math.max(firstReceivedAtMs, latestPossibleBound)
      : latestPossibleBound;
  return {
    messageId: record.messageId,
    receiptHandle: record.receiptHandle,
    receiveCount,
    receivedAtMs,
    sentAtMs: Number(record.attributes.SentTimestamp),
  };
}

/**
 * The one rule for every visibility change the worker makes (a retry, a wait for the rate budget, for a
 * lease): whole seconds, at least 1 (a visibility of 0 hands the message straight back, a hot loop), and within
 * SQS's 12 h from the receive, less a second for the call itself.
 */
export function visibilityTimeoutSeconds(delaySeconds: number, delivery: Delivery, nowMs: number): number {
  const elapsedSeconds = Math.ceil((nowMs - delivery.receivedAtMs) / 1000);
  const ceilingSeconds = Math.max(1, SQS_MAX_VISIBILITY_SECONDS - elapsedSeconds - 1);
  return Math.min(Math.max(1, Math.ceil(delaySeconds)), ceilingSeconds);
}
