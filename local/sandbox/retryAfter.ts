export type RetryAfterFormat = 'seconds' | 'http-date';

/**
 * `Retry-After` in either form RFC 9110 allows. An HTTP-date has whole-second precision, so the instant is
 * rounded up: a client that waits until the date never comes back before `delaySeconds` have passed.
 */
export function formatRetryAfter(delaySeconds: number, format: RetryAfterFormat, nowMs: number): string {
  const wholeSeconds = Math.max(1, Math.ceil(delaySeconds));
  if (format === 'seconds') return String(wholeSeconds);
  const retryAtMs = Math.ceil((nowMs + wholeSeconds * 1000) / 1000) * 1000;
  return new Date(retryAtMs).toUTCString();
}
