import type { RunRequest, RunRequestMessage } from '../../functions/kycert-worker/runRequestMessage.js';

/** Valid documents (check digits verified by the worker); tests assert these digits never leak. */
export const VALID_CPF = '52998224725';
export const VALID_CPF_FORMATTED = '529.982.247-25';
export const CPF_WITH_BAD_CHECK_DIGITS = '52998224726';
export const VALID_CNPJ = '11222333000181';

/** A valid queue message (schema version 1), as a producer would send it. */
export function runRequestMessage(overrides: Partial<RunRequestMessage> = {}): RunRequestMessage {
  return {
    template_id: 'tpl_onboarding_pf',
    subject: { type: 'pf', doc: VALID_CPF_FORMATTED },
    external_id: 'customer-0001',
    idempotency_key: 'idem-0001-aaaaaaaa',
    ...overrides,
  };
}

export function runRequestBody(overrides: Partial<RunRequestMessage> = {}): string {
  return JSON.stringify(runRequestMessage(overrides));
}

/** A parsed, normalised request: what the kycert client and the outcome store receive. */
export function runRequestFactory(overrides: Partial<RunRequest> = {}): RunRequest {
  return {
    idempotencyKey: 'idem-0001-aaaaaaaa',
    idempotencyKeySource: 'message',
    templateId: 'tpl_onboarding_pf',
    subject: { type: 'pf', doc: VALID_CPF },
    externalId: 'customer-0001',
    metadata: undefined,
    ...overrides,
  };
}

/**
 * Whether `text` carries the document's digits, formatted or not. Punctuation is dropped first, so
 * `529.982.247-25` and `52998224725` are both found.
 */
export function containsDocument(text: string, doc: string): boolean {
  return text.replace(/[\s./-]/g, '').includes(doc.replace(/[\s./-]/g, ''));
}
