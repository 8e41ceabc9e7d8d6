export type RetryAfterFormat = 'seconds' | 'http-date';

/**
 * `Retry-After` in either form RFC 9110 allows, never less than 1 s. Both forms round up, never down: a
 * client that waits the whole seconds, or until the date (which has no milliseconds), never comes back
 * before `delaySeconds` have passed.
 */
export function formatRetryAfter(delaySeconds: number, format: RetryAfterFormat, nowMs: number): string {
  const atLeastSeconds = Math.max(1, delaySeconds);
  if (format === 'seconds') return String(Math.ceil(atLeastSeconds));
  const retryAtMs = Math.ceil((nowMs + atLeastSeconds * 1000) / 1000) * 1000;
  return new Date(retryAtMs).toUTCString();
}
