import { randomUUID } from 'node:crypto';
import { kycertRequestBody, parseRunRequestMessage } from '../functions/kycert-worker/runRequestMessage.js';

/** A CPF with valid check digits, formatted as producers usually send it (the worker normalises it). */
const BENCH_CPF = '529.982.247-25';

/** A prefix unique to this process, so the keys of one bench run never meet those of another. */
export const RUN_ID = randomUUID().slice(0, 8);

/**
 * One valid queue message (schema version 1) with its own idempotency key. The external id carries the
 * scenario, so the sandbox's fault script can pick faults per message (`p2-rl-…`, `p2-5xx-…`).
 */
export function benchMessage(externalId: string): string {
  return JSON.stringify({
    template_id: 'tpl_onboarding_pf',
    subject: { type: 'pf', doc: BENCH_CPF },
    external_id: externalId,
    metadata: { channel: 'bench' },
    idempotency_key: `bench-${RUN_ID}-${externalId}`,
  });
}

export function benchMessages(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => benchMessage(`${prefix}-${String(i).padStart(5, '0')}`));
}

/** What the worker POSTs to kycert for `body`, and under which key: the bare-call baseline sends exactly this. */
export function kycertPostFor(body: string): { idempotencyKey: string; kycertBody: string } {
  const parsed = parseRunRequestMessage(body);
  if (!parsed.ok) throw new Error(`bench message refused by the worker's schema: ${parsed.reason}`);
  return { idempotencyKey: parsed.request.idempotencyKey, kycertBody: kycertRequestBody(parsed.request) };
}
