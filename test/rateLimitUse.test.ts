import { describe, expect, it } from 'vitest';
import { rateLimitUse } from '../local/pipeline/rateLimitUse.js';
import type { SandboxPost } from '../local/sandbox/index.js';

const post = (atMs: number, answer: SandboxPost['answer'] = 202): SandboxPost => ({
  atMs,
  answer,
  replayed: false,
});

describe('rateLimitUse', () => {
  it('counts only the windows strictly between the first POST’s and the last one’s', () => {
    // 3 s windows, limit 3: a partial first window [0, 3000), two full ones, a partial last one.
    const posts = [
      post(2_500),
      ...[3_000, 4_000, 5_000].map((at) => post(at)), // window 1: 3 of 3
      ...[6_000, 7_000].map((at) => post(at)), // window 2: 2 of 3, and one 429
      post(8_000, 429),
      post(9_100),
    ];
    expect(rateLimitUse(posts, { limit: 3, windowMs: 3_000 })).toEqual({
      fullWindows: 2,
      used: 5 / 6,
      rateLimitedShare: 1 / 8,
      posts: 8,
    });
  });

  it('has nothing to say about a run shorter than three windows', () => {
    expect(rateLimitUse([post(0), post(5_999)], { limit: 3, windowMs: 3_000 })).toBeUndefined();
    expect(rateLimitUse([], { limit: 3, windowMs: 3_000 })).toBeUndefined();
  });
});
