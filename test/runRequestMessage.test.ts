import { describe, expect, it } from 'vitest';
import {
  deriveIdempotencyKey,
  kycertRequestBody,
  MAX_MESSAGE_BYTES,
  parseRunRequestMessage,
} from '../functions/kycert-worker/runRequestMessage.js';

const valid = {
  template_id: 'tpl_onboarding',
  subject: { type: 'pf', doc: '123.456.789-09' },
  external_id: 'order-42',
};
const body = (overrides: Record<string, unknown> = {}) => JSON.stringify({ ...valid, ...overrides });

describe('parseRunRequestMessage: valid messages', () => {
  it('normalises the document and derives the key from template and external id', () => {
    const parsed = parseRunRequestMessage(body());
    expect(parsed).toEqual({
      ok: true,
      request: {
        idempotencyKey: deriveIdempotencyKey('tpl_onboarding', 'order-42'),
        idempotencyKeySource: 'derived',
        templateId: 'tpl_onboarding',
        subject: { type: 'pf', doc: '12345678909' },
        externalId: 'order-42',
        metadata: undefined,
      },
    });
  });

  it('uses the idempotency_key when given', () => {
    const parsed = parseRunRequestMessage(body({ idempotency_key: 'a1b2c3d4-0000-4000-8000-000000000001' }));
    expect(parsed).toMatchObject({
      ok: true,
      request: { idempotencyKey: 'a1b2c3d4-0000-4000-8000-000000000001', idempotencyKeySource: 'message' },
    });
  });

  it('derives one key per (template, external id): a re-sent copy is the same request, another template is not', () => {
    expect(deriveIdempotencyKey('tpl_a', 'x')).toBe(deriveIdempotencyKey('tpl_a', 'x'));
    expect(deriveIdempotencyKey('tpl_a', 'x')).not.toBe(deriveIdempotencyKey('tpl_b', 'x'));
    expect(deriveIdempotencyKey('tpl_a', 'x')).toMatch(/^kq1_[0-9a-f]{64}$/);
  });

  it('accepts schema_version 1, metadata within limits and a formatted alphanumeric CNPJ', () => {
    const metadata = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'v'.repeat(500)]));
    const parsed = parseRunRequestMessage(
      body({ schema_version: 1, metadata, subject: { type: 'pj', doc: '12.ABC.345/01DE-35' } }),
    );
    expect(parsed).toMatchObject({
      ok: true,
      request: { subject: { type: 'pj', doc: '12ABC34501DE35' }, metadata },
    });
  });
});

describe('parseRunRequestMessage: the bad-input catalogue', () => {
  it.each([
    ['not JSON', '{"template_id":', 'invalid_message:body:invalid_json'],
    ['empty body', '', 'invalid_message:body:invalid_json'],
    ['a JSON array', '[1,2]', 'invalid_message:body:not_an_object'],
    ['a JSON string', '"hello"', 'invalid_message:body:not_an_object'],
    ['JSON null', 'null', 'invalid_message:body:not_an_object'],
    [
      'missing template_id',
      JSON.stringify({ subject: valid.subject, external_id: 'x' }),
      'invalid_message:template_id:missing',
    ],
    ['template_id a number', body({ template_id: 7 }), 'invalid_message:template_id:wrong_type'],
    ['empty template_id', body({ template_id: '' }), 'invalid_message:template_id:empty'],
    [
      'template_id with spaces',
      body({ template_id: 'tpl one' }),
      'invalid_message:template_id:invalid_characters',
    ],
    ['template_id too long', body({ template_id: 't'.repeat(129) }), 'invalid_message:template_id:too_long'],
    [
      'missing subject',
      JSON.stringify({ template_id: 't', external_id: 'x' }),
      'invalid_message:subject:missing',
    ],
    ['subject a string', body({ subject: '12345678909' }), 'invalid_message:subject:wrong_type'],
    [
      'unknown subject type',
      body({ subject: { type: 'pp', doc: '12345678909' } }),
      'invalid_message:subject.type:unsupported_value',
    ],
    ['missing doc', body({ subject: { type: 'pf' } }), 'invalid_message:subject.doc:missing'],
    ['empty doc', body({ subject: { type: 'pf', doc: '' } }), 'invalid_message:subject.doc:empty'],
    [
      'bad CPF check digits',
      body({ subject: { type: 'pf', doc: '123.456.789-00' } }),
      'invalid_message:subject.doc:invalid_check_digits',
    ],
    [
      'short CPF',
      body({ subject: { type: 'pf', doc: '1234567890' } }),
      'invalid_message:subject.doc:invalid_length',
    ],
    [
      'CPF of repeated digits',
      body({ subject: { type: 'pf', doc: '111.111.111-11' } }),
      'invalid_message:subject.doc:repeated_digits',
    ],
    [
      'bad CNPJ check digits',
      body({ subject: { type: 'pj', doc: '12.345.678/0001-96' } }),
      'invalid_message:subject.doc:invalid_check_digits',
    ],
    [
      'CNPJ with a CPF',
      body({ subject: { type: 'pj', doc: '123.456.789-09' } }),
      'invalid_message:subject.doc:invalid_length',
    ],
    ['unexpected field', body({ priority: 'high' }), 'invalid_message:body:unknown_field'],
    [
      'unexpected subject field',
      body({ subject: { ...valid.subject, name: 'Ana' } }),
      'invalid_message:subject:unknown_field',
    ],
    ['schema_version 2', body({ schema_version: 2 }), 'invalid_message:schema_version:unsupported_value'],
    [
      'neither key nor external_id',
      JSON.stringify({ template_id: 't', subject: valid.subject }),
      'invalid_message:idempotency_key:missing_key_and_external_id',
    ],
    ['key too short', body({ idempotency_key: 'abc' }), 'invalid_message:idempotency_key:too_short'],
    ['key too long', body({ idempotency_key: 'k'.repeat(256) }), 'invalid_message:idempotency_key:too_long'],
    [
      'key with a space',
      body({ idempotency_key: 'key with space' }),
      'invalid_message:idempotency_key:invalid_characters',
    ],
    [
      'key with a control character',
      body({ idempotency_key: 'key\u0007bell!' }),
      'invalid_message:idempotency_key:invalid_characters',
    ],
    [
      'key with non-ASCII',
      body({ idempotency_key: 'chave-ação-123' }),
      'invalid_message:idempotency_key:invalid_characters',
    ],
    [
      'external_id with a newline',
      body({ external_id: 'a\nb' }),
      'invalid_message:external_id:invalid_characters',
    ],
    [
      'external_id with a lone surrogate',
      body({ external_id: 'a\ud800b' }),
      'invalid_message:external_id:invalid_characters',
    ],
    ['external_id empty', body({ external_id: '' }), 'invalid_message:external_id:empty'],
    [
      'metadata with 11 keys',
      body({ metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }),
      'invalid_message:metadata:too_many_keys',
    ],
    [
      'metadata value too long',
      body({ metadata: { note: 'x'.repeat(501) } }),
      'invalid_message:metadata:value_too_long',
    ],
    ['metadata value a number', body({ metadata: { n: 1 } }), 'invalid_message:metadata:value_wrong_type'],
    ['metadata an array', body({ metadata: ['a'] }), 'invalid_message:metadata:wrong_type'],
    [
      'oversized body',
      body({ external_id: 'x'.repeat(MAX_MESSAGE_BYTES) }),
      'invalid_message:body:too_large',
    ],
  ])('%s → %s', (_, raw, reason) => {
    const parsed = parseRunRequestMessage(raw);
    expect(parsed.ok).toBe(false);
    expect(parsed).toMatchObject({ reason });
  });

  it('keeps a readable key so that the failure can be recorded under it', () => {
    const parsed = parseRunRequestMessage(
      body({ subject: { type: 'pf', doc: '123' }, idempotency_key: 'k-0000001' }),
    );
    expect(parsed).toMatchObject({
      ok: false,
      idempotencyKey: 'k-0000001',
      externalId: 'order-42',
      templateId: 'tpl_onboarding',
    });
  });

  it('derives the key of an invalid message from template and external id when it has none', () => {
    const parsed = parseRunRequestMessage(body({ subject: { type: 'pf', doc: '123' } }));
    expect(parsed).toMatchObject({
      ok: false,
      idempotencyKey: deriveIdempotencyKey('tpl_onboarding', 'order-42'),
    });
  });

  it('never echoes the document in the reason or detail', () => {
    const parsed = parseRunRequestMessage(body({ subject: { type: 'pf', doc: '123.456.789-00' } }));
    expect(JSON.stringify(parsed)).not.toMatch(/123\.?456\.?789/);
  });

  it.each([
    ['a control character', { 'note\u0001': 1 }, '"note\\u0001"'],
    ['a lone surrogate', { '\ud800': 1 }, '"\\ud800"'],
    ['a CPF', { '529.982.247-25': true }, '"[document]"'],
    ['a name of 500 characters', { ['x'.repeat(500)]: 1 }, `"${'x'.repeat(60)}…"`],
  ])(
    'an unknown field named with %s: the reason has the schema’s words only, the detail the name quoted',
    (_, extra, quoted) => {
      const parsed = parseRunRequestMessage(body(extra));
      expect(parsed).toMatchObject({ ok: false, reason: 'invalid_message:body:unknown_field' });
      const { detail } = parsed as { detail: string };
      expect(detail).toContain(`unknown field ${quoted}`);
      expect(detail.isWellFormed()).toBe(true);
      expect(detail).not.toMatch(/\p{Cc}/u);
      expect(detail).not.toMatch(/529\.?982/);
    },
  );

  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses metadata key %s instead of dropping it',
    (key) => {
      const raw = `{"template_id":"t","subject":{"type":"pf","doc":"12345678909"},"external_id":"e","metadata":{"${key}":"campaign-7","channel":"app"}}`;
      expect(parseRunRequestMessage(raw)).toMatchObject({
        ok: false,
        reason: 'invalid_message:metadata:reserved_key',
        detail: `metadata key "${key}" is reserved; use another key`,
      });
    },
  );

  it('says in words what is wrong, naming the rule, never with zod’s own message', () => {
    const cases = [
      [
        body({ template_id: 'tpl one' }),
        'template_id has characters it may not hold; template_id must be 1 to 128 characters of A-Z a-z 0-9 _ . : -',
      ],
      [
        body({ subject: { doc: '12345678909' } }),
        'subject.type is required; subject.type must be "pf" (a person, CPF) or "pj" (a company, CNPJ)',
      ],
      [body({ metadata: { n: 1 } }), 'metadata value of "n" must be a string'],
      [
        body({ idempotency_key: 'key with space' }),
        'idempotency_key has characters it may not hold; idempotency_key must be 8 to 255 visible ASCII characters (! to ~, no spaces)',
      ],
    ] as const;
    for (const [raw, detail] of cases)
      expect(parseRunRequestMessage(raw)).toMatchObject({ ok: false, detail });
    expect(parseRunRequestMessage(body({ subject: { doc: '12345678909' } }))).toMatchObject({
      reason: 'invalid_message:subject.type:missing',
    });
  });
});

describe('kycertRequestBody', () => {
  it('is byte-identical for the same request whatever the order of the message’s fields', () => {
    const a = parseRunRequestMessage(
      JSON.stringify({
        metadata: { b: '2', a: '1' },
        external_id: 'e',
        subject: { doc: '12345678909', type: 'pf' },
        template_id: 't',
      }),
    );
    const b = parseRunRequestMessage(
      JSON.stringify({
        template_id: 't',
        subject: { type: 'pf', doc: '123.456.789-09' },
        external_id: 'e',
        metadata: { a: '1', b: '2' },
      }),
    );
    if (!a.ok || !b.ok) throw new Error('fixtures must be valid');
    expect(kycertRequestBody(a.request)).toBe(kycertRequestBody(b.request));
    expect(kycertRequestBody(a.request)).toBe(
      '{"template_id":"t","subject":{"type":"pf","doc":"12345678909"},"external_id":"e","metadata":{"a":"1","b":"2"}}',
    );
  });

  it('omits absent optional fields', () => {
    const parsed = parseRunRequestMessage(
      JSON.stringify({
        template_id: 't',
        subject: { type: 'pf', doc: '12345678909' },
        idempotency_key: 'key-00001',
      }),
    );
    if (!parsed.ok) throw new Error('fixture must be valid');
    expect(kycertRequestBody(parsed.request)).toBe(
      '{"template_id":"t","subject":{"type":"pf","doc":"12345678909"}}',
    );
  });
});
