import { describe, expect, it } from 'vitest';
import {
  type SignatureCheck,
  signWebhook,
  verifyWebhookSignature,
} from '../functions/kycert-webhook/webhookSignature.js';

const SECRET = 'whsec_test_secret';
const OLD_SECRET = 'whsec_old_secret';
const T_SECONDS = 1_767_614_400; // 2026-01-05T12:00:00Z
const NOW_MS = T_SECONDS * 1000;
const BODY = '{"id":"evt_1","object":"event"}';
// Computed outside this code: printf '%s' '1767614400.{"id":"evt_1","object":"event"}' | openssl dgst -sha256 -hmac whsec_test_secret
const EXPECTED_HEX = 'c4a8bf6b22ab08aec78996d65f79461dac8ad7b583846c135cfba9c8b5ba421d';

const verify = (overrides: Partial<Parameters<typeof verifyWebhookSignature>[0]> = {}): SignatureCheck =>
  verifyWebhookSignature({
    header: signWebhook(SECRET, BODY, T_SECONDS),
    rawBody: BODY,
    secrets: [SECRET],
    nowMs: NOW_MS,
    ...overrides,
  });

describe('signWebhook', () => {
  it("writes Stripe's header: t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>", () => {
    expect(signWebhook(SECRET, BODY, T_SECONDS)).toBe(`t=${T_SECONDS},v1=${EXPECTED_HEX}`);
  });

  it('signs the same bytes whether given a string or a buffer', () => {
    expect(signWebhook(SECRET, Buffer.from(BODY, 'utf8'), T_SECONDS)).toBe(
      `t=${T_SECONDS},v1=${EXPECTED_HEX}`,
    );
  });

  it('writes one v1 per secret, during a rotation', () => {
    const header = signWebhook([SECRET, OLD_SECRET], BODY, T_SECONDS);
    expect(header.split(',')).toEqual([
      `t=${T_SECONDS}`,
      `v1=${EXPECTED_HEX}`,
      expect.stringMatching(/^v1=[0-9a-f]{64}$/),
    ]);
  });
});

describe('verifyWebhookSignature', () => {
  const tampered = BODY.replace('evt_1', 'evt_2');
  const other = 'whsec_someone_else';

  it.each<[string, Partial<Parameters<typeof verifyWebhookSignature>[0]>, SignatureCheck]>([
    ['a good signature, now', {}, { ok: true, timestampSeconds: T_SECONDS }],
    [
      'a good signature, 300 s old (the tolerance)',
      { nowMs: NOW_MS + 300_000 },
      { ok: true, timestampSeconds: T_SECONDS },
    ],
    ['a good signature, 300 s ahead', { nowMs: NOW_MS - 300_000 }, { ok: true, timestampSeconds: T_SECONDS }],
    ['the wrong secret', { secrets: [other] }, { ok: false, reason: 'bad_signature' }],
    ['a tampered body', { rawBody: tampered }, { ok: false, reason: 'bad_signature' }],
    ['one byte more (a trailing newline)', { rawBody: `${BODY}\n` }, { ok: false, reason: 'bad_signature' }],
    ['a stale timestamp (301 s)', { nowMs: NOW_MS + 301_000 }, { ok: false, reason: 'stale_timestamp' }],
    [
      'a future timestamp (301 s ahead)',
      { nowMs: NOW_MS - 301_000 },
      { ok: false, reason: 'future_timestamp' },
    ],
    [
      'a tolerance of its own',
      { nowMs: NOW_MS + 61_000, toleranceSeconds: 60 },
      { ok: false, reason: 'stale_timestamp' },
    ],
    [
      'a replay: the same delivery presented again an hour later',
      { nowMs: NOW_MS + 3_600_000 },
      { ok: false, reason: 'stale_timestamp' },
    ],
    [
      'a fresh timestamp pasted onto an old signature',
      { header: `t=${T_SECONDS + 3600},v1=${EXPECTED_HEX}`, nowMs: NOW_MS + 3_600_000 },
      { ok: false, reason: 'bad_signature' },
    ],
    ['no header', { header: undefined }, { ok: false, reason: 'missing_header' }],
    ['an empty header', { header: '  ' }, { ok: false, reason: 'missing_header' }],
    ['no timestamp', { header: `v1=${EXPECTED_HEX}` }, { ok: false, reason: 'malformed_header' }],
    ['no v1', { header: `t=${T_SECONDS}` }, { ok: false, reason: 'malformed_header' }],
    ['only a v0', { header: `t=${T_SECONDS},v0=${EXPECTED_HEX}` }, { ok: false, reason: 'malformed_header' }],
    [
      'two timestamps',
      { header: `t=${T_SECONDS},t=${T_SECONDS},v1=${EXPECTED_HEX}` },
      { ok: false, reason: 'malformed_header' },
    ],
    [
      'a timestamp in ms',
      { header: `t=${NOW_MS}0,v1=${EXPECTED_HEX}` },
      { ok: false, reason: 'malformed_header' },
    ],
    [
      'a short signature',
      { header: `t=${T_SECONDS},v1=${EXPECTED_HEX.slice(2)}` },
      { ok: false, reason: 'malformed_header' },
    ],
    [
      'a signature that is not hex',
      { header: `t=${T_SECONDS},v1=${'z'.repeat(64)}` },
      { ok: false, reason: 'malformed_header' },
    ],
    [
      'a base64 signature',
      { header: `t=${T_SECONDS},v1=${Buffer.from(EXPECTED_HEX, 'hex').toString('base64')}` },
      { ok: false, reason: 'malformed_header' },
    ],
    ['garbage', { header: 'sha256=abc' }, { ok: false, reason: 'malformed_header' }],
    [
      'spaces and upper-case hex around the parts',
      { header: ` t=${T_SECONDS} , v1=${EXPECTED_HEX.toUpperCase()} ` },
      { ok: true, timestampSeconds: T_SECONDS },
    ],
    [
      'a v0 beside the v1, ignored',
      { header: `t=${T_SECONDS},v0=${'0'.repeat(64)},v1=${EXPECTED_HEX}` },
      { ok: true, timestampSeconds: T_SECONDS },
    ],
  ])('%s', (_name, overrides, expected) => {
    expect(verify(overrides)).toEqual(expected);
  });

  describe('rotation', () => {
    it.each<[string, string[], string | string[], SignatureCheck]>([
      [
        'kycert signs with the new secret, we hold both',
        [SECRET, OLD_SECRET],
        SECRET,
        { ok: true, timestampSeconds: T_SECONDS },
      ],
      [
        'kycert still signs with the old one, we hold both',
        [SECRET, OLD_SECRET],
        OLD_SECRET,
        { ok: true, timestampSeconds: T_SECONDS },
      ],
      [
        'kycert signs with both, we hold the new one only',
        [SECRET],
        [OLD_SECRET, SECRET],
        { ok: true, timestampSeconds: T_SECONDS },
      ],
      [
        'kycert signs with both, we hold the old one only',
        [OLD_SECRET],
        [OLD_SECRET, SECRET],
        { ok: true, timestampSeconds: T_SECONDS },
      ],
      [
        'kycert signs with the new one, we hold the old one only',
        [OLD_SECRET],
        SECRET,
        { ok: false, reason: 'bad_signature' },
      ],
      [
        'kycert signs with two we do not hold',
        [SECRET],
        [OLD_SECRET, other],
        { ok: false, reason: 'bad_signature' },
      ],
    ])('%s', (_name, held, signedWith, expected) => {
      expect(verify({ secrets: held, header: signWebhook(signedWith, BODY, T_SECONDS) })).toEqual(expected);
    });
  });

  it('refuses to run without a secret: that is a configuration bug, not a bad webhook', () => {
    expect(() => verify({ secrets: [] })).toThrow('verifyWebhookSignature: no secret to verify with');
  });
});
