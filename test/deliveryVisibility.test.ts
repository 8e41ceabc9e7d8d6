import { describe, expect, it } from 'vitest';
import { readDelivery, visibilityTimeoutSeconds } from '../functions/kycert-worker/deliveryVisibility.js';
import { sqsRecordFactory } from './support/sqsRecordFactory.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00.000Z');
const QUEUE_VISIBILITY_TIMEOUT_SECONDS = 360;

const record = (receiveCount: number, firstReceivedAtMs: number) => {
  const r = sqsRecordFactory({ body: '{}', receiveCount, messageId: 'm-1' });
  r.attributes.ApproximateFirstReceiveTimestamp = String(firstReceivedAtMs);
  r.attributes.SentTimestamp = String(firstReceivedAtMs - 1_000);
  return r;
};

describe('readDelivery: the earliest the receive can have been', () => {
  it('on the first receive, the first receive timestamp, when it is the later bound', () => {
    expect(readDelivery(record(1, NOW_MS - 200), NOW_MS, QUEUE_VISIBILITY_TIMEOUT_SECONDS)).toEqual({
      messageId: 'm-1',
      receiptHandle: 'receipt-m-1-1',
      receiveCount: 1,
      receivedAtMs: NOW_MS - 200,
      sentAtMs: NOW_MS - 1_200,
    });
  });

  it.each([
    ['a later receive: the first receive says nothing of this one', 3, NOW_MS - 5 * 3_600_000],
    ['a first receive whose timestamp is bogus (0)', 1, 0],
    ['a first receive stamped in the future', 1, NOW_MS + 60_000],
  ])('%s: the invocation start less the queue visibility timeout', (_, receiveCount, firstReceivedAtMs) => {
    const delivery = readDelivery(
      record(receiveCount, firstReceivedAtMs),
      NOW_MS,
      QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    );
    expect(delivery.receivedAtMs).toBe(NOW_MS - QUEUE_VISIBILITY_TIMEOUT_SECONDS * 1000);
  });
});

describe('visibilityTimeoutSeconds', () => {
  const delivery = readDelivery(record(1, NOW_MS), NOW_MS, QUEUE_VISIBILITY_TIMEOUT_SECONDS);

  it.each([
    [0, 1], // never 0: the message would come straight back
    [-5, 1],
    [0.2, 1],
    [1.5, 2],
    [900, 900],
    [50_000, 43_199], // 12 h from the receive, less a second for the call itself
  ])('wanted %f s → %i s', (wanted, expected) => {
    expect(visibilityTimeoutSeconds(wanted, delivery, NOW_MS)).toBe(expected);
  });

  it('counts the time already spent since the receive', () => {
    expect(visibilityTimeoutSeconds(50_000, delivery, NOW_MS + 3_600_000)).toBe(43_199 - 3_600);
  });
});
