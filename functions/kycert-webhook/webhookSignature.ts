import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * kycert's webhook signature. What its docs (docs.kycert.com.br, api/webhooks) say: webhooks are signed with
 * HMAC-SHA256 using a `whsec_…` secret; reject a timestamp more than 5 minutes off; compare in constant time.
 * What they do not say, and what is therefore ASSUMED here, Stripe's scheme, which kycert's wording follows:
 *
 *   - the header (its name is a setting, default `kycert-signature`) reads `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`;
 *     several `v1` values may come at once (the sender signs with each of its secrets during a rotation);
 *     other schemes (`v0=…`) are ignored;
 *   - `<hex>` is the lowercase hex HMAC-SHA256 of the string `${t}.${rawBody}`, with the raw body exactly as
 *     sent (bytes, before any JSON parsing);
 *   - the HMAC key is the whole secret string, `whsec_` prefix included, as UTF-8.
 *
 * If kycert's real header or signed string differ, this module and the sandbox's signer
 * (local/sandbox/webhookSender.ts) are the two places to change.
 */
export const WebhookSignature = {
  /** @default header name; a setting of the receiver (`KYCERT_WEBHOOK_SIGNATURE_HEADER`) and of the sandbox. */
  defaultHeaderName: 'kycert-signature',
  scheme: 'v1',
  /** kycert's docs: reject a timestamp more than 5 minutes off. */
  defaultToleranceSeconds: 300,
} as const;

export type SignatureRejection =
  | 'missing_header'
  | 'malformed_header'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'bad_signature';

export type SignatureCheck =
  | { ok: true; timestampSeconds: number }
  | { ok: false; reason: SignatureRejection };

/** The header value for `rawBody` signed at `timestampSeconds` with each of `secrets` (the sandbox's side). */
export function signWebhook(
  secret: string | readonly string[],
  rawBody: string | Uint8Array,
  timestampSeconds: number,
): string {
  const secrets = typeof secret === 'string' ? [secret] : secret;
  const signatures = secrets.map(
    (one) => `${WebhookSignature.scheme}=${hmacHex(one, timestampSeconds, rawBody)}`,
  );
  return [`t=${timestampSeconds}`, ...signatures].join(',');
}

/**
 * Checks a webhook's signature header against the raw body and every secret we hold (two during a rotation).
 *
 * The signature is checked before the timestamp, so that the reasons mean something to an operator:
 * `bad_signature` is a wrong secret or a forgery, `stale_timestamp` a webhook kycert really signed but too long
 * ago (a replay, a clock off, a delivery held up). A stale or future one is refused all the same.
 */
export function verifyWebhookSignature(input: {
  header: string | undefined;
  rawBody: string | Uint8Array;
  secrets: readonly string[];
  nowMs: number;
  /** @default 300 s (kycert's docs) */
  toleranceSeconds?: number;
}): SignatureCheck {
  if (input.secrets.length === 0) throw new Error('verifyWebhookSignature: no secret to verify with');
  const toleranceSeconds = input.toleranceSeconds ?? WebhookSignature.defaultToleranceSeconds;
  if (input.header === undefined || input.header.trim() === '')
    return { ok: false, reason: 'missing_header' };
  const parsed = parseSignatureHeader(input.header);
  if (parsed === undefined) return { ok: false, reason: 'malformed_header' };

  const received = parsed.signatures.map((hex) => Buffer.from(hex, 'hex'));
  const matches = input.secrets.some((secret) => {
    const expected = Buffer.from(hmacHex(secret, parsed.timestampSeconds, input.rawBody), 'hex');
    // Equal lengths by construction (parseSignatureHeader takes 64 hex digits only): timingSafeEqual throws otherwise.
    return received.some(
      (signature) => signature.length === expected.length && timingSafeEqual(signature, expected),
    );
  });
  if (!matches) return { ok: false, reason: 'bad_signature' };

  const ageSeconds = input.nowMs / 1000 - parsed.timestampSeconds;
  if (ageSeconds > toleranceSeconds) return { ok: false, reason: 'stale_timestamp' };
  if (-ageSeconds > toleranceSeconds) return { ok: false, reason: 'future_timestamp' };
  return { ok: true, timestampSeconds: parsed.timestampSeconds };
}

/** `t=<digits>` exactly once and at least one `v1=<64 hex digits>`; undefined for anything else. */
function parseSignatureHeader(
  header: string,
): { timestampSeconds: number; signatures: string[] } | undefined {
  let timestampSeconds: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 1) return undefined;
    const name = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (name === 't') {
      if (timestampSeconds !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestampSeconds = Number(value);
    } else if (name === WebhookSignature.scheme) {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) return undefined;
      signatures.push(value.toLowerCase());
    }
    // Any other scheme is someone else's (Stripe's test `v0`): ignored, as Stripe's libraries do.
  }
  return timestampSeconds === undefined || signatures.length === 0
    ? undefined
    : { timestampSeconds, signatures };
}

function hmacHex(secret: string, timestampSeconds: number, rawBody: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}
