import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  type KycertAnswer,
  retryAfterMs,
  retryLoop,
  toKycertRequest,
} from '../bench/referenceRetryLoop.js';

const NOW_MS = Date.parse('2026-11-23T12:00:00Z');
const MESSAGE = JSON.stringify({
  template_id: 'tpl_onboarding_pf',
  subject: { type: 'pf', doc: '529.982.247-25' },
  external_id: 'order-1',
  idempotency_key: 'bench-key-0001',
});

/** kycert answers in the order given; every POST and every sleep is recorded. */
function scripted(answers: KycertAnswer[]) {
  const posts: { body: string; key: string }[] = [];
  const sleeps: number[] = [];
  return {
    posts,
    sleeps,
    options: {
      post: async (body: string, key: string) => {
        posts.push({ body, key });
        const answer = answers.shift();
        if (answer === undefined) throw new Error('more POSTs than scripted answers');
        return answer;
      },
      sleep: async (delayMs: number) => {
        sleeps.push(delayMs);
      },
      nowMs: () => NOW_MS,
    },
  };
}

describe('reference retry loop (P2 baseline)', () => {
  it('sleeps Retry-After after a 429, then succeeds under the same key and body', async () => {
    // Prepare
    const kycert = scripted([{ status: 429, retryAfter: '2' }, { status: 202 }]);
    // Act
    const result = await retryLoop(MESSAGE, kycert.options);
    // Assess
    expect(result).toEqual({ outcome: 'succeeded', attempts: 2, sleptMs: [2_000] });
    expect(new Set(kycert.posts.map((post) => `${post.key} ${post.body}`)).size).toBe(1);
    expect(kycert.posts[0]?.key).toBe('bench-key-0001');
  });

  it("backs off 1 s, then 2 s after 5xx and network errors (kycert's documented pattern)", async () => {
    const kycert = scripted([{ status: 503 }, { status: undefined }, { status: 201 }]);
    const result = await retryLoop(MESSAGE, kycert.options);
    expect(result).toEqual({ outcome: 'succeeded', attempts: 3, sleptMs: [1_000, 2_000] });
  });

  it('gives up at once on another 4xx, and after the last attempt on a retryable answer', async () => {
    expect(await retryLoop(MESSAGE, scripted([{ status: 422 }]).options)).toEqual({
      outcome: 'failed',
      attempts: 1,
      sleptMs: [],
    });
    const exhausted = scripted([{ status: 500 }, { status: 500 }]);
    expect(await retryLoop(MESSAGE, { ...exhausted.options, maxAttempts: 2 })).toEqual({
      outcome: 'failed',
      attempts: 2,
      sleptMs: [1_000],
    });
  });

  it.each([
    ['3', 3_000],
    [' 0 ', 0],
    ['Mon, 23 Nov 2026 12:00:05 GMT', 5_000],
    ['Mon, 23 Nov 2026 11:59:00 GMT', 0],
    ['soon', 60_000],
    [undefined, 60_000],
  ])('Retry-After %j waits %d ms', (header, expected) => {
    expect(retryAfterMs(header, NOW_MS)).toBe(expected);
  });

  it('doubles the backoff per attempt up to its ceiling', () => {
    expect([1, 2, 3, 4].map((attempt) => backoffMs(attempt, 1, 4))).toEqual([1_000, 2_000, 4_000, 4_000]);
  });

  it("sends the message without the queue's own fields, the key as a header", () => {
    const request = toKycertRequest(JSON.stringify({ schema_version: 1, ...JSON.parse(MESSAGE) }));
    expect(request.idempotencyKey).toBe('bench-key-0001');
    expect(JSON.parse(request.kycertBody)).toEqual({
      template_id: 'tpl_onboarding_pf',
      subject: { type: 'pf', doc: '529.982.247-25' },
      external_id: 'order-1',
    });
  });
});
