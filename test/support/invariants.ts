import { parseRunRequestMessage } from '../../functions/kycert-worker/runRequestMessage.js';
import type { OutcomeReport, PipelineReport } from '../../local/pipeline/startLocalPipeline.js';
import type { SandboxPost, SandboxStats } from '../../local/sandbox/index.js';

/**
 * What must hold after any run of the pipeline, whatever was injected: the fault tests and `npm run chaos`
 * both end with `checkInvariants`. Each violation names its invariant, so a failing run says which promise
 * broke, for which key.
 */
export const Invariant = {
  /** A valid request has no outcome: the message vanished. */
  lost: 'lost',
  /** A valid request's outcome is still `in_progress` or `retry_scheduled`, or the main queue is not empty. */
  stuck: 'stuck',
  /** `succeeded` without a run id, or with one kycert did not create under the key. */
  outcomeDisagreesWithKycert: 'outcome_disagrees_with_kycert',
  /** `failed`, but no DLQ copy of the message carries the key and that reason. */
  failedNotInDlq: 'failed_not_in_dlq',
  /** A DLQ message without the worker's reason (moved by the redrive policy), or whose body was never sent. */
  dlqWithoutReason: 'dlq_without_reason',
  /**
   * A DLQ reason that is not one the worker gives (decision table, README): empty, not of the form
   * `code[:detail…]` in the schema's and the worker's own words, or with a character SQS would refuse.
   */
  dlqReasonMalformed: 'dlq_reason_malformed',
  dlqBodyNotSent: 'dlq_body_not_sent',
  /** A DLQ copy for a key that succeeded: an operator would chase a request that went through. */
  dlqForSucceededKey: 'dlq_for_succeeded_key',
  /** An invalid message is not in the DLQ verbatim with exactly the reason the schema gives it. */
  invalidNotDeadLettered: 'invalid_not_dead_lettered',
  /** kycert saw a POST under the key of an invalid message. */
  invalidReachedKycert: 'invalid_reached_kycert',
  /** kycert created more than one run under one key: the same background check bought twice. */
  duplicateRun: 'duplicate_run',
  /** kycert received different bodies under one key. */
  bodyChanged: 'body_changed',
  /** A POST followed an answer that must never be retried (4xx other than 401, 402, 403, 408, 409, 429). */
  rejectionRetried: 'rejection_retried',
  /**
   * More POSTs under a key than MAX_ATTEMPTS. Answers that did nothing (401, 402, 403 about the account, 429
   * about the tenant's budget: no run created, nothing billed) are not counted: the worker gives those
   * attempts back.
   */
  attemptsExceeded: 'attempts_exceeded',
  /** A POST more than IDEMPOTENCY_WINDOW_HOURS after the key's first attempt. */
  postAfterKeyWindow: 'post_after_key_window',
  /** kycert saw a key that no valid message carries. */
  unknownKey: 'unknown_key',
} as const;
export type Invariant = (typeof Invariant)[keyof typeof Invariant];

export interface InvariantViolation {
  invariant: Invariant;
  idempotencyKey?: string;
  message: string;
}

export interface RunEvidence {
  /** Every body enqueued, verbatim, duplicates included. */
  sent: readonly string[];
  report: PipelineReport;
  sandboxStats: SandboxStats;
  maxAttempts: number;
  /** Messages left on the main queue (visible, in flight or delayed) once the run settled. @default 0 */
  pendingMessages?: number;
  /** @default 22 h, the worker's default */
  idempotencyWindowSeconds?: number;
  /**
   * Deliveries may have ended without their decision being recorded: a handler crash or a Lambda timeout after
   * the POST, or a DynamoDB/DLQ write that failed. The record then comes back and may claim the key once more,
   * so the outcome's attempt counter can pass MAX_ATTEMPTS (the claim past it dead-letters without a POST),
   * and a rejected key may be POSTed again, but only to get kycert's replay of the same answer.
   * @default false
   */
  decisionsMayBeLost?: boolean;
}

const TERMINAL = new Set(['succeeded', 'failed']);
const REUSED_KEY_REASON = 'invalid_message:idempotency_key:reused_with_different_body';
/**
 * Every reason the worker gives: a code of its decision table, then colon-separated words of its own (the
 * schema's field names, kycert's error codes). Nothing a producer wrote, nothing SQS would refuse.
 */
const WORKER_REASON =
  /^(invalid_message|kycert_rejected|kycert_unauthorized|unexpected_response|retries_exhausted|idempotency_window_expired|rate_limited_past_key_window|lease_held_on_last_receive|key_already_failed|kycert_account_blocked|message_expiring)(:[A-Za-z0-9_.]+)*$/;
const DEFAULT_WINDOW_SECONDS = 22 * 3600;

/** Every broken promise of the run; an empty list means the run passed. */
export function checkInvariants(evidence: RunEvidence): InvariantViolation[] {
  const { sent, report, sandboxStats: kycert, maxAttempts } = evidence;
  const windowMs = (evidence.idempotencyWindowSeconds ?? DEFAULT_WINDOW_SECONDS) * 1000;
  const lenient = evidence.decisionsMayBeLost ?? false;
  const violations: InvariantViolation[] = [];
  const violation = (invariant: Invariant, message: string, idempotencyKey?: string) =>
    violations.push(
      idempotencyKey === undefined ? { invariant, message } : { invariant, idempotencyKey, message },
    );

  const { validKeys, invalid } = classify(sent);
  const outcomes = new Map(report.outcomes.map((o) => [o.idempotency_key, o]));
  const dlqByKey = groupBy(report.dlq, (d) => d.idempotency_key ?? '');
  const dlqBodies = new Map<string, string[]>();
  for (const d of report.dlq) dlqBodies.set(d.body, [...(dlqBodies.get(d.body) ?? []), d.reason]);
  const sentBodies = new Set(sent);

  if ((evidence.pendingMessages ?? 0) > 0) {
    violation(Invariant.stuck, `${evidence.pendingMessages} message(s) still on the main queue`);
  }

  // Every valid request: exactly one terminal outcome, consistent with kycert and the DLQ.
  for (const key of validKeys) {
    const outcome = outcomes.get(key);
    const runs = kycert.runsByIdempotencyKey[key] ?? [];
    if (outcome === undefined) {
      violation(Invariant.lost, 'no outcome recorded', key);
      continue;
    }
    if (!TERMINAL.has(outcome.status)) {
      violation(Invariant.stuck, `outcome still ${outcome.status}`, key);
      continue;
    }
    if (outcome.status === 'succeeded') {
      if (outcome.run_id === null || runs.length !== 1 || runs[0] !== outcome.run_id) {
        violation(
          Invariant.outcomeDisagreesWithKycert,
          `outcome run_id ${outcome.run_id}, kycert created [${runs.join(', ')}]`,
          key,
        );
      }
      // A copy refused for carrying another body under the key is another request, not this one's failure.
      const copies = (dlqByKey.get(key) ?? []).filter((d) => d.reason !== REUSED_KEY_REASON);
      if (copies.length > 0) {
        violation(Invariant.dlqForSucceededKey, `${copies.length} DLQ copies`, key);
      }
    } else if (!(dlqByKey.get(key) ?? []).some((d) => d.reason === outcome.dead_letter_reason)) {
      violation(
        Invariant.failedNotInDlq,
        `failed as ${outcome.dead_letter_reason}; DLQ reasons under the key: [${(dlqByKey.get(key) ?? []).map((d) => d.reason).join(', ')}]`,
        key,
      );
    }
    if (!lenient && (outcome.attempts ?? 0) > maxAttempts) {
      violation(Invariant.attemptsExceeded, `outcome counts ${outcome.attempts} attempts`, key);
    }
  }

  // Every invalid message: in the DLQ verbatim with its own reason; never seen by kycert.
  for (const { body, reason, key } of invalid) {
    if (!(dlqBodies.get(body) ?? []).includes(reason)) {
      violation(
        Invariant.invalidNotDeadLettered,
        `expected ${reason} for ${preview(body)}; DLQ has [${(dlqBodies.get(body) ?? []).join(', ')}]`,
        key,
      );
    }
    if (key !== undefined && !validKeys.has(key) && (kycert.postsByIdempotencyKey[key] ?? []).length > 0) {
      violation(Invariant.invalidReachedKycert, `${kycert.postsByIdempotencyKey[key]?.length} POST(s)`, key);
    }
  }

  for (const d of report.dlq) {
    if (d.reason === 'max_receive_count_exceeded') {
      violation(Invariant.dlqWithoutReason, `moved by the redrive policy: ${preview(d.body)}`, keyOf(d.body));
    } else if (!WORKER_REASON.test(d.reason) || !(d.detail ?? '').length) {
      violation(
        Invariant.dlqReasonMalformed,
        `reason ${JSON.stringify(d.reason)}, detail ${JSON.stringify(d.detail)}: ${preview(d.body)}`,
        keyOf(d.body),
      );
    }
    if (!sentBodies.has(d.body))
      violation(Invariant.dlqBodyNotSent, preview(d.body), d.idempotency_key ?? undefined);
  }

  // kycert's side: per key, one run, one body, a bounded number of POSTs, none after a rejection or the window.
  for (const [key, runs] of Object.entries(kycert.runsByIdempotencyKey)) {
    if (runs.length > 1) violation(Invariant.duplicateRun, `${runs.length} runs: ${runs.join(', ')}`, key);
  }
  for (const [key, bodies] of Object.entries(kycert.bodiesByIdempotencyKey)) {
    if (bodies.length !== 1) violation(Invariant.bodyChanged, `${bodies.length} distinct bodies`, key);
    if (!validKeys.has(key) && !invalid.some((i) => i.key === key)) {
      violation(Invariant.unknownKey, 'kycert saw a key no message carries', key);
    }
  }
  for (const [key, posts] of Object.entries(kycert.postsByIdempotencyKey)) {
    checkPosts(key, posts, outcomes.get(key), { maxAttempts, windowMs, lenient }, violation);
  }
  return violations;
}

function checkPosts(
  key: string,
  posts: readonly SandboxPost[],
  outcome: OutcomeReport | undefined,
  bounds: { maxAttempts: number; windowMs: number; lenient: boolean },
  violation: (invariant: Invariant, message: string, key?: string) => void,
): void {
  const counted = posts.filter((post) => ![...ACCOUNT_ANSWERS, 429].includes(post.answer)).length;
  if (counted > bounds.maxAttempts) {
    violation(
      Invariant.attemptsExceeded,
      `${counted} POSTs (401, 402, 403 and 429 aside), bound ${bounds.maxAttempts}`,
      key,
    );
  }
  const rejectedAt = posts.findIndex((post) => isFinalRejection(post.answer));
  if (rejectedAt >= 0) {
    const after = posts.slice(rejectedAt + 1);
    const allowed = (post: SandboxPost) =>
      bounds.lenient && post.replayed && post.answer === posts[rejectedAt]?.answer;
    const retried = after.filter((post) => !allowed(post));
    if (retried.length > 0) {
      violation(
        Invariant.rejectionRetried,
        `HTTP ${posts[rejectedAt]?.answer} then ${retried.map((p) => `${p.answer}${p.replayed ? ' (replay)' : ''}`).join(', ')}`,
        key,
      );
    }
  }
  const firstAttemptAtMs =
    outcome?.first_attempt_at == null ? undefined : Date.parse(outcome.first_attempt_at);
  if (firstAttemptAtMs !== undefined) {
    const late = posts.filter((post) => post.atMs - firstAttemptAtMs > bounds.windowMs);
    if (late.length > 0) {
      violation(
        Invariant.postAfterKeyWindow,
        `${late.length} POST(s), the latest ${((Math.max(...late.map((p) => p.atMs)) - firstAttemptAtMs) / 3_600_000).toFixed(2)} h after the first attempt`,
        key,
      );
    }
  }
}

/** Answers about the account: the worker pauses the flow and sends the same request again later. */
const ACCOUNT_ANSWERS: readonly SandboxPost['answer'][] = [401, 402, 403];

/** kycert's answers that the worker dead-letters at once (README, decision table). */
function isFinalRejection(answer: SandboxPost['answer']): boolean {
  return (
    typeof answer === 'number' &&
    answer >= 400 &&
    answer < 500 &&
    ![...ACCOUNT_ANSWERS, 408, 409, 429].includes(answer)
  );
}

/** Sorts the sent bodies into the distinct keys of valid requests and the invalid messages with their reasons. */
export function classify(sent: readonly string[]): {
  validKeys: Set<string>;
  invalid: { body: string; reason: string; key: string | undefined }[];
} {
  const validKeys = new Set<string>();
  const invalid: { body: string; reason: string; key: string | undefined }[] = [];
  for (const body of new Set(sent)) {
    const parsed = parseRunRequestMessage(body);
    if (parsed.ok) validKeys.add(parsed.request.idempotencyKey);
    else invalid.push({ body, reason: parsed.reason, key: parsed.idempotencyKey });
  }
  return { validKeys, invalid };
}

export interface RunCounts {
  messages: number;
  distinctRequests: number;
  invalidMessages: number;
  kycertPosts: number;
  createdRuns: number;
  /** Keys under which kycert created more than one run. */
  duplicateRuns: number;
  lost: number;
  stuck: number;
  succeeded: number;
  failed: number;
  /** Failed keys for which kycert did create a run (its answer was lost on every attempt). */
  failedWithRun: number;
  dlqMessages: number;
  dlqByReason: Record<string, number>;
  replays: number;
  faultsInjected: Record<string, number>;
  byStatus: Record<string, number>;
}

/** The figures of a run, for `npm run chaos` and docs/faults.md. */
export function countRun(evidence: RunEvidence): RunCounts {
  const { sent, report, sandboxStats: kycert } = evidence;
  const { validKeys, invalid } = classify(sent);
  const outcomes = new Map(report.outcomes.map((o) => [o.idempotency_key, o]));
  let lost = 0;
  let stuck = 0;
  let succeeded = 0;
  let failed = 0;
  let failedWithRun = 0;
  for (const key of validKeys) {
    const status = outcomes.get(key)?.status;
    if (status === undefined) lost += 1;
    else if (status === 'succeeded') succeeded += 1;
    else if (status === 'failed') {
      failed += 1;
      if ((kycert.runsByIdempotencyKey[key] ?? []).length > 0) failedWithRun += 1;
    } else stuck += 1;
  }
  const dlqBodies = new Set(report.dlq.map((d) => d.body));
  lost += invalid.filter((i) => !dlqBodies.has(i.body)).length;
  const dlqByReason: Record<string, number> = {};
  for (const d of report.dlq) dlqByReason[d.reason] = (dlqByReason[d.reason] ?? 0) + 1;
  return {
    messages: sent.length,
    distinctRequests: validKeys.size,
    invalidMessages: sent.filter((body) => !parseRunRequestMessage(body).ok).length,
    kycertPosts: kycert.postRuns,
    createdRuns: kycert.runsCreated,
    duplicateRuns: Object.values(kycert.runsByIdempotencyKey).filter((runs) => runs.length > 1).length,
    lost,
    stuck: stuck + ((evidence.pendingMessages ?? 0) > 0 ? (evidence.pendingMessages ?? 0) : 0),
    succeeded,
    failed,
    failedWithRun,
    dlqMessages: report.dlq.length,
    dlqByReason,
    replays: kycert.replays,
    faultsInjected: { ...kycert.faultsInjected },
    byStatus: { ...kycert.byStatus },
  };
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}

function keyOf(body: string): string | undefined {
  const parsed = parseRunRequestMessage(body);
  return parsed.ok ? parsed.request.idempotencyKey : parsed.idempotencyKey;
}

function preview(body: string): string {
  return JSON.stringify(body.length <= 80 ? body : `${body.slice(0, 79)}…`);
}
