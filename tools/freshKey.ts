import { createHash } from 'node:crypto';

/** Fixed namespace of kycert-queue's redrive keys (a random UUID, chosen once). */
const REDRIVE_KEY_NAMESPACE = 'c8d2f0a4-5b7e-4e61-9a3f-0d6b2e9c4f17';

/**
 * The fresh idempotency key of a corrected (or `--fresh-key`) redrive: a name-based UUID (RFC 9562 version 5)
 * of the old key (or, for a message without one, its DLQ message id) and the corrected request.
 *
 * Derived rather than random so that repeating the same redrive — after an interruption between the send and
 * the DLQ delete, or for the DLQ's second copy of one message — reuses the key, and kycert and the worker
 * absorb the repeat instead of a second background check being bought. A different correction gets a
 * different key.
 */
export function freshIdempotencyKey(origin: string, correctedRequest: Record<string, unknown>): string {
  const { idempotency_key: _ignored, ...request } = correctedRequest;
  const namespace = Buffer.from(REDRIVE_KEY_NAMESPACE.replaceAll('-', ''), 'hex');
  const hash = createHash('sha1')
    .update(namespace)
    .update(JSON.stringify(['kycert-queue/redrive/v1', origin, request]))
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
