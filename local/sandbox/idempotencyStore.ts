/** A response kept under an idempotency key, replayed as is (a 2xx is replayed as 200). */
export interface StoredResponse {
  status: number;
  body: unknown;
}

/** Proof that this request holds a key; hand it back to `complete` or `release`. */
export interface IdempotencyClaim {
  readonly scopedKey: string;
}

export type IdempotencyLookup =
  | { kind: 'claimed'; claim: IdempotencyClaim }
  /** Another request with this key has not been answered yet. */
  | { kind: 'inProgress' }
  /** The key was first used with a different body. */
  | { kind: 'reused' }
  | { kind: 'replay'; response: StoredResponse };

interface Entry {
  claim: IdempotencyClaim;
  bodyHash: string;
  firstSeenAtMs: number;
  response: StoredResponse | undefined;
}

/**
 * kycert's idempotency, per tenant and key. Timeline of one key:
 *   first request   → claimed (in progress) → complete(): the answer is kept
 *                                           → release(): as if never seen (a 5xx, a 429)
 *   later, same body      → replay of the kept answer
 *   later, other body     → reused (422)
 *   while still in progress → inProgress (409), whatever the body
 *   `ttlMs` after the first request → forgotten: the next request claims the key afresh
 */
export class IdempotencyStore {
  readonly #ttlMs: number;
  readonly #entries = new Map<string, Entry>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  begin(tenant: string, key: string, bodyHash: string, nowMs: number): IdempotencyLookup {
    const scopedKey = JSON.stringify([tenant, key]);
    const existing = this.#entries.get(scopedKey);
    if (existing !== undefined && nowMs - existing.firstSeenAtMs < this.#ttlMs) {
      if (existing.response === undefined) return { kind: 'inProgress' };
      if (existing.bodyHash !== bodyHash) return { kind: 'reused' };
      return { kind: 'replay', response: existing.response };
    }
    const claim: IdempotencyClaim = { scopedKey };
    this.#entries.set(scopedKey, { claim, bodyHash, firstSeenAtMs: nowMs, response: undefined });
    return { kind: 'claimed', claim };
  }

  complete(claim: IdempotencyClaim, response: StoredResponse): void {
    const entry = this.#entries.get(claim.scopedKey);
    if (entry?.claim === claim) entry.response = response;
  }

  release(claim: IdempotencyClaim): void {
    if (this.#entries.get(claim.scopedKey)?.claim === claim) this.#entries.delete(claim.scopedKey);
  }
}
