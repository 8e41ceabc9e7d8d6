import type { SandboxPost } from '../sandbox/index.js';

export interface RateLimitUse {
  /** Whole windows from the first POST's to the last one's, both ends excluded: the drain at full flow. */
  fullWindows: number;
  /** POSTs in those windows that kycert did not refuse with 429, over `limit × fullWindows`. */
  used: number;
  /** Every POST answered 429, over every POST. */
  rateLimitedShare: number;
  posts: number;
}

/**
 * How much of kycert's rate limit a run used, from the sandbox's own record of the POSTs it received:
 * windows aligned as the sandbox aligns them (multiples of `windowMs` since the epoch). The first and the
 * last windows are partial (the flow starts and ends inside them), so only the ones between count.
 * `undefined` when there are fewer than three windows.
 */
export function rateLimitUse(
  posts: readonly SandboxPost[],
  rateLimit: { limit: number; windowMs: number },
): RateLimitUse | undefined {
  if (posts.length === 0) return undefined;
  const windowOf = (atMs: number) => Math.floor(atMs / rateLimit.windowMs);
  const times = posts.map((post) => post.atMs);
  const first = windowOf(Math.min(...times));
  const last = windowOf(Math.max(...times));
  const fullWindows = last - first - 1;
  const rateLimited = posts.filter((post) => post.answer === 429).length;
  const rateLimitedShare = rateLimited / posts.length;
  if (fullWindows < 1) return undefined;
  const admitted = posts.filter((post) => {
    const window = windowOf(post.atMs);
    return window > first && window < last && post.answer !== 429;
  }).length;
  return {
    fullWindows,
    used: admitted / (rateLimit.limit * fullWindows),
    rateLimitedShare,
    posts: posts.length,
  };
}
