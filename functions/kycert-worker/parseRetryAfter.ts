/**
 * `Retry-After` is either delta-seconds (`"120"`) or an HTTP-date (`"Wed, 21 Oct 2026 07:28:00 GMT"`),
 * RFC 9110 §10.2.3. Returns whole seconds to wait from `nowMs` (never negative), or `undefined` when the
 * header is absent or unreadable — the caller then falls back to kycert's documented default.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) {
    const seconds = Number(trimmed);
    return Number.isSafeInteger(seconds) ? seconds : undefined;
  }
  // Date.parse accepts far more than HTTP-dates ("-3" is year -3); insist on the three forms RFC 9110 allows.
  if (!HTTP_DATE.test(trimmed)) return undefined;
  // asctime carries no zone; HTTP-dates are always GMT.
  const atMs = Date.parse(ASCTIME.test(trimmed) ? `${trimmed} GMT` : trimmed);
  if (Number.isNaN(atMs)) return undefined;
  return Math.max(0, Math.ceil((atMs - nowMs) / 1000));
}

const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC_850 = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;
const HTTP_DATE = new RegExp(`(${IMF_FIXDATE.source})|(${RFC_850.source})|(${ASCTIME.source})`);
