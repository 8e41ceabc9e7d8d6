import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * An outcome item as plain JSON (README, "The outcome item"), plus `redriven_at`, written by `dlq redrive`; the
 * webhook receiver's parked results (`kycert-queue run <run id>`) read the same way, with `parked_run_id`.
 */
export interface Outcome {
  idempotency_key: string;
  status: string;
  updated_at?: string;
  attempts?: number;
  run_id?: string;
  replayed?: boolean;
  last_http_status?: number;
  last_error_code?: string;
  last_error_message?: string;
  retry_cause?: string;
  next_attempt_at?: string;
  dead_letter_reason?: string;
  first_attempt_at?: string;
  last_attempt_at?: string;
  external_id?: string;
  template_id?: string;
  subject_type?: string;
  key_source?: string;
  lease_until_ms?: number;
  superseded_by?: string;
  redriven_at?: string;
  expires_at?: number;
  run_status?: string;
  /** As kycert sent it; null for a failed run. */
  decision?: string | null;
  risk_band?: string;
  completed_at?: string;
  failed_at?: string;
  decided_at?: string;
  decision_source?: string;
  decision_published_at?: string;
  estimated_seconds?: number;
  status_checks?: number;
  next_check_at?: string;
  parked_run_id?: string;
  [attribute: string]: unknown;
}

/** DynamoDB's item to plain JSON; the table holds only strings, numbers and booleans. */
export function toOutcome(item: Record<string, AttributeValue>): Outcome {
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    if (value.S !== undefined) plain[name] = value.S;
    else if (value.N !== undefined) plain[name] = Number(value.N);
    else if (value.BOOL !== undefined) plain[name] = value.BOOL;
    else if (value.NULL !== undefined) plain[name] = null;
  }
  return {
    ...plain,
    idempotency_key: String(plain.idempotency_key ?? ''),
    status: String(plain.status ?? 'unknown'),
  };
}

/** The outcome table's TTL, as this item was written: the CLI's own writes keep it. */
export function ttlSecondsOf(outcome: Outcome | undefined, fallbackSeconds: number): number {
  if (outcome?.expires_at === undefined || outcome.updated_at === undefined) return fallbackSeconds;
  const ttl = outcome.expires_at - Math.floor(Date.parse(outcome.updated_at) / 1000);
  return Number.isFinite(ttl) && ttl > 0 ? ttl : fallbackSeconds;
}

/** The worker's OUTCOME_TTL_DAYS default, in seconds, for an item that does not tell. */
export const DEFAULT_OUTCOME_TTL_SECONDS = 30 * 86_400;
