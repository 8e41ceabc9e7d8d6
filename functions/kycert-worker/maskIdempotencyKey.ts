import { redactDocuments } from './brazilianDocument.js';

/** The keys the worker derives itself (runRequestMessage.ts): a SHA-256, so never personal data. */
const DERIVED_KEY = /^kq1_[0-9a-f]{64}$/;

/**
 * An idempotency key as it may appear in a log line or a DLQ attribute. A producer may build its key from a
 * CPF (`cpf-529.982.247-25`), so document-like text in it is masked as in `external_id`; derived keys are
 * hashes and stay whole, so that an operator can search the logs for them. The outcome table, which must be
 * looked up by the key, keeps it as sent (README, "The outcome item").
 */
export function maskIdempotencyKey(key: string): string {
  return DERIVED_KEY.test(key) ? key : redactDocuments(key);
}
